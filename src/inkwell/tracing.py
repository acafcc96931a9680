"""Traces (OpenTelemetry), configured by the standard OTEL_* variables and off when they are unset.

Off, nothing is instrumented and no provider exists: a request runs exactly the code it runs without
this module. On, each request gets a span named by its route template, with a child for every database
statement and Redis command it runs; each attempt of a background job gets a span of its own, linked
to the span of the request that wrote the job, with a child for the mail it sends.

Inkwell decides only whether tracing is on and which exporter sends the spans (`exporter_for`); the
OpenTelemetry SDK reads the rest of its variables itself: the resource (`OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`), the sampler, the batches (`OTEL_BSP_*`) and the exporter's endpoint,
headers and timeouts.

Spans never carry a statement's parameters, a Redis command's arguments, a request's body or an
Authorization header; the error texts Inkwell records (a driver's message may quote a row's value) go
through the same redaction as the log.
"""

import logging
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import assert_never
from weakref import WeakKeyDictionary

import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.exception_attributes import (
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
    EXCEPTION_TYPE,
)
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.http import sanitize_method
from opentelemetry.util.types import Attributes
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, ExceptionContext, ExecutionContext
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inkwell import __version__
from inkwell.config import OtlpProtocol, Settings
from inkwell.logs import redact_text

logger = logging.getLogger(__name__)

# What code that may run with tracing off uses: every span it starts is a no-op.
NO_TRACER: Tracer = trace.NoOpTracer()
REQUEST_ID = "inkwell.request_id"
# Probes and scrapes come every few seconds and say nothing about the API: they get no span.
UNTRACED_PATHS = "/healthz$,/readyz$,/metrics$"
# Where the instrumentation's hook leaves the request's span for the layers inside (a key of the scope's own).
_SPAN = "inkwell.span"
# A job's link to the request that wrote it travels in the outbox row in W3C form.
_W3C = TraceContextTextMapPropagator()
# The attributes of a statement's span, named as the Redis instrumentation names those of a command.
DB_STATEMENT, DB_SYSTEM, DB_NAME = "db.statement", "db.system", "db.name"


class Tracing:
    """Tracing on: the provider every span goes to, and what puts each part of Inkwell in it."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("inkwell", __version__)

    @classmethod
    def exporting_to(cls, exporter: SpanExporter, *, batch: bool = True) -> "Tracing":
        """Spans sent to `exporter`, in batches from a thread (`OTEL_BSP_*`), or each as it ends (what
        tests read at once); sampled as `OTEL_TRACES_SAMPLER` says, which the SDK reads itself."""
        provider = TracerProvider(resource=_resource())
        export = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        provider.add_span_processor(WithinOperations(export))
        return cls(provider)

    @property
    def service_name(self) -> str:
        return str(self.provider.resource.attributes[SERVICE_NAME])

    def request_middleware(self) -> list[Middleware]:
        """A span per request, named by its route template (a request no route takes: by its method),
        with the request's id.

        Inside the request log, which gives the id, and outside the app's answer to an unexpected error,
        so that the span holds that answer (its 500) too.
        """
        return [
            Middleware(
                OpenTelemetryMiddleware,
                tracer_provider=self.provider,
                meter_provider=NoOpMeterProvider(),
                excluded_urls=UNTRACED_PATHS,
                default_span_details=_named_by_method,
                server_request_hook=_request_started,
                # No spans of their own for each ASGI message a request receives and sends.
                exclude_spans=["receive", "send"],
            ),
            Middleware(RequestSpan),
        ]

    def error_middleware(self) -> list[Middleware]:
        """What records an unexpected error on the request's span: inside the app's answer to it, which
        ends the span as it sends the 500."""
        return [Middleware(RecordedErrors)]

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """A span per statement on `engine`, with its SQL and never its parameters."""
        StatementSpans(self.tracer, engine.sync_engine)

    def instrument_redis(self, redis: Redis) -> None:
        """A span per Redis command of this client: its name, never its arguments."""
        RedisInstrumentor.instrument_client(redis, tracer_provider=self.provider)

    def shutdown(self) -> None:
        """Send what is still waiting and stop."""
        self.provider.shutdown()


def start_tracing(settings: Settings) -> Tracing | None:
    """Tracing as the OTEL_* variables ask for it, or None when they ask for none."""
    exporter = exporter_for(settings)
    if exporter is None:
        return None
    tracing = Tracing.exporting_to(exporter)
    logger.info(
        "tracing on: spans of %s go to %s, sampled by %s",
        tracing.service_name,
        type(exporter).__name__,
        tracing.provider.sampler.get_description(),
    )
    return tracing


def tracer_of(tracing: Tracing | None) -> Tracer:
    return NO_TRACER if tracing is None else tracing.tracer


def exporter_for(settings: Settings) -> SpanExporter | None:
    """The exporter named, or OTLP when only an endpoint is (the exporter the standard defaults to).

    The SDK's own reading of `OTEL_TRACES_EXPORTER` is part of its automatic set-up, which installs a
    process-wide provider (Inkwell gives each app and worker one of its own): so Inkwell chooses the
    exporter, and the exporter reads its own variables.
    """
    if settings.otel_sdk_disabled:
        return None
    endpoint = settings.otel_exporter_otlp_traces_endpoint or settings.otel_exporter_otlp_endpoint
    chosen = settings.otel_traces_exporter or ("otlp" if endpoint else "none")
    if chosen == "console":
        return ConsoleSpanExporter(formatter=_one_line)
    if chosen == "otlp":
        return _otlp_exporter(settings.otlp_traces_protocol)
    return None


def _otlp_exporter(protocol: OtlpProtocol) -> SpanExporter:
    """The OTLP exporter of `protocol`: its endpoint, headers, timeout, compression and certificate
    come from the OTEL_EXPORTER_OTLP_* variables, which it reads itself."""
    if protocol == "http/protobuf":
        # Imported here: only a process that sends OTLP pays for loading protobuf.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    assert_never(protocol)


def _resource() -> Resource:
    """What every span says of its process: `service.name` inkwell and Inkwell's `service.version`,
    unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` say otherwise, and what else the SDK
    detects."""
    own = Resource.create({SERVICE_NAME: "inkwell", SERVICE_VERSION: __version__})
    # Resource.create lets the attributes given win over the variables; the variables win here.
    return own.merge(OTELResourceDetector().detect())


def _one_line(span: ReadableSpan) -> str:
    """A span as one JSON line (the console exporter's default is an indented block)."""
    line: str = span.to_json(indent=None)
    return line + "\n"


class WithinOperations(SpanProcessor):
    """Passes the spans of requests and jobs, and of what runs inside them, on to `processor`.

    A statement or a Redis command outside any (the job runner's look at the outbox every second, a
    purge) would each make a trace of one span: it is left out.
    """

    def __init__(self, processor: SpanProcessor) -> None:
        self.processor = processor

    def on_start(self, span: trace.Span, parent_context: Context | None = None) -> None:
        self.processor.on_start(span, parent_context)  # type: ignore[arg-type]

    def on_end(self, span: ReadableSpan) -> None:
        if span.kind is SpanKind.CLIENT and span.parent is None:
            return
        self.processor.on_end(span)

    def shutdown(self) -> None:
        self.processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.processor.force_flush(timeout_millis)


class StatementSpans:
    """A span per statement `engine` runs, from SQLAlchemy's own events.

    The SQLAlchemy instrumentation offers no public way to trace one engine with a provider of the
    caller's: its instrumentor is one per process, takes the first provider it is given, and wraps
    `create_engine` for the whole process. So the spans are made here, as the instrumentation makes
    them: named by the statement's verb and the database, with the SQL and its placeholders.
    """

    def __init__(self, tracer: Tracer, engine: Engine) -> None:
        self.tracer = tracer
        url = engine.url
        self.database = url.database or engine.dialect.name
        described: dict[str, str | int | None] = {
            DB_SYSTEM: engine.dialect.name,
            DB_NAME: url.database,
            SERVER_ADDRESS: url.host,
            SERVER_PORT: url.port,
        }
        self.attributes = {key: value for key, value in described.items() if value is not None}
        self.spans: WeakKeyDictionary[ExecutionContext, trace.Span] = WeakKeyDictionary()
        event.listen(engine, "before_cursor_execute", self.started)
        event.listen(engine, "after_cursor_execute", self.ended)
        event.listen(engine, "handle_error", self.failed)

    def started(
        self,
        _conn: Connection,
        _cursor: object,
        statement: str,
        _parameters: object,
        context: ExecutionContext,
        _executemany: bool,
    ) -> None:
        verb = statement.split(maxsplit=1)[0] if statement.strip() else "SQL"
        self.spans[context] = self.tracer.start_span(
            f"{verb} {self.database}",
            kind=SpanKind.CLIENT,
            attributes={**self.attributes, DB_STATEMENT: statement},
        )

    def ended(
        self,
        _conn: Connection,
        _cursor: object,
        _statement: str,
        _parameters: object,
        context: ExecutionContext,
        _executemany: bool,
    ) -> None:
        span = self.spans.pop(context, None)
        if span is not None:
            span.end()

    def failed(self, exception_context: ExceptionContext) -> None:
        context = exception_context.execution_context
        span = None if context is None else self.spans.pop(context, None)
        if span is None:
            return
        # A driver's message may quote the value that broke a constraint (MariaDB's duplicate key does).
        error = exception_context.original_exception
        span.set_status(Status(StatusCode.ERROR, redact_text(str(error))))
        span.set_attribute(ERROR_TYPE, type(error).__name__)
        span.end()


class RequestSpan:
    """Names the span the instrumentation started for a request by the template of the route that took
    it, as the request log does, and keeps the instrumentation from recording an error's message.

    The instrumentation names a span as the request starts, before any route is chosen: by its method
    alone here (its default, the path, would carry ids and addresses). It records an error that reaches
    it, message and all, on a span still open, and a driver's message may quote a row's value: the
    error is on the span already (`RecordedErrors`), redacted, and the span is ended here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        span: trace.Span | None = scope.get(_SPAN)
        if span is None:  # not traced: a probe, a scrape, or not HTTP
            await self.app(scope, receive, send)
            return

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                _name_by_route(span, scope)
            await send(message)

        try:
            await self.app(scope, receive, send_named)
        except Exception:
            if span.is_recording():  # the response did not end it: it failed halfway, or never started
                span.end()
            raise


class RecordedErrors:
    """Records an error on the request's span, its texts redacted as the log's are."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            span: trace.Span | None = scope.get(_SPAN)
            if span is not None:
                _record_error(span, exc)
            raise


def _named_by_method(scope: Scope) -> tuple[str, dict[str, str]]:
    method = sanitize_method(scope.get("method", ""))
    return ("HTTP" if method == "_OTHER" else method), {}


def _request_started(span: trace.Span, scope: Scope) -> None:
    """The instrumentation's hook on each request it traces: the request's id on its span (the request
    log, outside, gave it), and the span in the scope, where the layers inside find it."""
    scope[_SPAN] = span
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id is not None and span.is_recording():
        span.set_attribute(REQUEST_ID, request_id)


def _name_by_route(span: trace.Span, scope: Scope) -> None:
    # FastAPI's routes name themselves in the scope; `path_format` is the path without convertors.
    template = getattr(scope.get("route"), "path_format", None)
    if isinstance(template, str):
        span.update_name(f"{scope['method']} {template}")
        span.set_attribute(HTTP_ROUTE, template)


def _record_error(span: trace.Span, exc: Exception) -> None:
    """The error as OpenTelemetry records one (an `exception` event, the status, `error.type`), its
    texts redacted as the log's are."""
    message = redact_text(str(exc))
    span.add_event(
        "exception",
        {
            EXCEPTION_TYPE: _qualified_name(type(exc)),
            EXCEPTION_MESSAGE: message,
            EXCEPTION_STACKTRACE: redact_text("".join(traceback.format_exception(exc))),
        },
    )
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"))
    span.set_attribute(ERROR_TYPE, type(exc).__name__)


def _qualified_name(kind: type) -> str:
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


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
