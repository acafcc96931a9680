"""Traces (OpenTelemetry), configured by the standard OTEL_* variables and off when they are unset.

Off, nothing is instrumented and no provider exists: a request runs exactly the code it runs without
this module. On, each request gets a span named by its route template, with a child for every database
statement and Redis command it runs; each attempt of a background job gets a span of its own, linked
to the span of the request that wrote the job, with a child for the mail it sends.

Spans never carry a statement's parameters, a Redis command's arguments, a request's body or an
Authorization header; error texts (a driver's message may quote a row's value) go through the same
redaction as the log.
"""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import structlog
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.version import __version__ as sqlalchemy_instrumentation_version
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inkwell import __version__
from inkwell.config import Settings
from inkwell.logs import redact_text

logger = logging.getLogger(__name__)

# What code that may run with tracing off uses: every span it starts is a no-op.
NO_TRACER: Tracer = trace.NoOpTracer()
REQUEST_ID = "inkwell.request_id"
# Probes and scrapes come every few seconds and say nothing about the API: they get no span.
UNTRACED_PATHS = "/healthz$,/readyz$,/metrics$"
# A job's link to the request that wrote it travels in the outbox row in W3C form.
_W3C = TraceContextTextMapPropagator()


class Tracing:
    """Tracing on: the provider every span goes to, and what puts each part of Inkwell in it."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("inkwell", __version__)

    @classmethod
    def exporting_to(cls, exporter: SpanExporter, settings: Settings, *, batch: bool = True) -> "Tracing":
        """Spans sampled as `settings` say, sent to `exporter` (in batches from a thread, or each as it
        ends: what tests read at once)."""
        resource = Resource.create({SERVICE_NAME: settings.otel_service_name, SERVICE_VERSION: __version__})
        provider = TracerProvider(resource=resource, sampler=WithinOperations(_sampler(settings)))
        export = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(RedactingErrors(export))
        return cls(provider)

    def instrument_app(self, app: FastAPI) -> None:
        """A span per request, named by its route template (a request no route takes: by its method).

        Call it before anything wraps the app's middleware stack: the instrumentation wraps Starlette's
        own stack and leaves an app whose stack is wrapped already untraced.
        """
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            meter_provider=NoOpMeterProvider(),
            server_request_hook=_note_request_id,
            excluded_urls=UNTRACED_PATHS,
            # No spans of their own for each ASGI message a request receives and sends.
            exclude_spans=["receive", "send"],
        )
        app.add_middleware(NameByRoute)

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A span per statement on `engine`, with its SQL and never its parameters.

        The instrumentation's per-engine part: its instrumentor would also wrap `create_engine` for
        the whole process, once, with the first provider it is given.
        """
        tracer = self.provider.get_tracer(
            "opentelemetry.instrumentation.sqlalchemy", sqlalchemy_instrumentation_version
        )
        usage = NoOpMeterProvider().get_meter(__name__).create_up_down_counter("db.client.connections.usage")
        EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]

    def instrument_redis(self, redis: Redis) -> None:
        """A span per Redis command of this client: its name, never its arguments."""
        RedisInstrumentor.instrument_client(redis, tracer_provider=self.provider)

    def shutdown(self) -> None:
        """Send what is still waiting and stop."""
        self.provider.shutdown()


def start_tracing(settings: Settings) -> Tracing | None:
    """Tracing as the OTEL_* settings ask for it, or None when they ask for none."""
    exporter = exporter_for(settings)
    if exporter is None:
        return None
    logger.info(
        "tracing on: spans of %s go to %s, sampled by %s",
        settings.otel_service_name,
        type(exporter).__name__,
        settings.otel_traces_sampler,
    )
    return Tracing.exporting_to(exporter, settings)


def tracer_of(tracing: Tracing | None) -> Tracer:
    return NO_TRACER if tracing is None else tracing.tracer


def exporter_for(settings: Settings) -> SpanExporter | None:
    """The exporter named, or OTLP when only an endpoint is (the exporter the standard defaults to)."""
    if settings.otel_sdk_disabled:
        return None
    endpoint = settings.otel_exporter_otlp_traces_endpoint or settings.otel_exporter_otlp_endpoint
    chosen = settings.otel_traces_exporter or ("otlp" if endpoint else "none")
    if chosen == "console":
        return ConsoleSpanExporter(formatter=_one_line)
    if chosen == "otlp":
        # Imported here: only a process that sends OTLP pays for loading protobuf.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=_traces_endpoint(settings))
    return None


def _traces_endpoint(settings: Settings) -> str | None:
    """The URL spans are posted to: the traces endpoint as it is, or the general one's /v1/traces."""
    if settings.otel_exporter_otlp_traces_endpoint is not None:
        return settings.otel_exporter_otlp_traces_endpoint
    if settings.otel_exporter_otlp_endpoint is not None:
        return settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    return None  # the exporter's default, http://localhost:4318/v1/traces


def _one_line(span: ReadableSpan) -> str:
    """A span as one JSON line (the console exporter's default is an indented block)."""
    line: str = span.to_json(indent=None)
    return line + "\n"


_ROOT_SAMPLERS = {"always_on": ALWAYS_ON, "always_off": ALWAYS_OFF}


def _sampler(settings: Settings) -> Sampler:
    name = settings.otel_traces_sampler
    kind = name.removeprefix("parentbased_")
    root = (
        TraceIdRatioBased(settings.otel_traces_sampler_arg)
        if kind == "traceidratio"
        else _ROOT_SAMPLERS[kind]
    )
    return ParentBased(root) if name.startswith("parentbased_") else root


class WithinOperations(Sampler):
    """Statements and Redis commands are traced inside a request or a job, not on their own: the job
    runner's look at the outbox every second, or a purge, would each make a trace of one span."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self.sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"WithinOperations{{{self.sampler.get_description()}}}"


class RedactingErrors(SpanProcessor):
    """Passes spans on to `processor`, their error texts redacted as the log's are.

    A span's status and its exception events carry an error's message, which no one wrote for a trace:
    MariaDB's duplicate key names the email, for one. Spans without an error pass as they are.
    """

    def __init__(self, processor: SpanProcessor) -> None:
        self.processor = processor

    def on_start(self, span: trace.Span, parent_context: Context | None = None) -> None:
        self.processor.on_start(span, parent_context)  # type: ignore[arg-type]

    def on_end(self, span: ReadableSpan) -> None:
        if span.status.description or span.events:
            span = _redacted(span)
        self.processor.on_end(span)

    def shutdown(self) -> None:
        self.processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.processor.force_flush(timeout_millis)


def _redacted(span: ReadableSpan) -> ReadableSpan:
    status = span.status
    if status.description:
        status = Status(status.status_code, redact_text(status.description))
    events = [
        Event(event.name, _redacted_attributes(event.attributes), event.timestamp) for event in span.events
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _redacted_attributes(attributes: Attributes) -> Attributes:
    if not attributes:
        return attributes
    return {key: redact_text(value) if isinstance(value, str) else value for key, value in attributes.items()}


class NameByRoute:
    """Names the request's span by the template of the route that took it, as the request log does.

    The instrumentation names it by the route's declared path, convertors and all
    (`/users/{user_id:user_id}`); a request no route takes keeps its method alone.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                template = getattr(scope.get("route"), "path_format", None)
                if isinstance(template, str):
                    span = trace.get_current_span()
                    span.update_name(f"{scope['method']} {template}")
                    span.set_attribute(HTTP_ROUTE, template)
            await send(message)

        await self.app(scope, receive, send_named)


def _note_request_id(span: trace.Span, _scope: object) -> None:
    # The request log binds the id before the request reaches the app; the span starts inside it.
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id is not None and span.is_recording():
        span.set_attribute(REQUEST_ID, request_id)


def current_traceparent() -> str | None:
    """The W3C traceparent of the span running now (a request's), or None outside any (tracing off)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def job_span(
    tracer: Tracer, name: str, *, job_id: int, attempt: int, traceparent: str | None
) -> Iterator[trace.Span]:
    """The span of one attempt of a job, linked to the span that wrote it (when that was traced)."""
    written_by = trace.get_current_span(_W3C.extract({"traceparent": traceparent or ""})).get_span_context()
    links = [Link(written_by)] if written_by.is_valid else []
    attributes: Attributes = {
        "inkwell.job.id": job_id,
        "inkwell.job.name": name,
        "inkwell.job.attempt": attempt,
    }
    with _span(tracer, f"job {name}", SpanKind.CONSUMER, attributes, links=links) as span:
        yield span


@contextmanager
def smtp_span(tracer: Tracer, *, host: str, port: int) -> Iterator[trace.Span]:
    """The span of one message handed to a mail server (aiosmtplib has no instrumentation of its own)."""
    with _span(tracer, "smtp send", SpanKind.CLIENT, {"server.address": host, "server.port": port}) as span:
        yield span


@contextmanager
def _span(
    tracer: Tracer, name: str, kind: SpanKind, attributes: Attributes, *, links: Sequence[Link] = ()
) -> Iterator[trace.Span]:
    """A span that records a failure by its type only (`error.type`): the message may hold an address."""
    with tracer.start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        links=links,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:
            failed(exc)
            raise


def failed(exc: BaseException) -> None:
    """Mark the span running now as failed, by the error's type."""
    span = trace.get_current_span()
    span.set_status(Status(StatusCode.ERROR))
    span.set_attribute("error.type", type(exc).__name__)
