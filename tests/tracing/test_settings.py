"""The OTEL_* variables: the few Inkwell decides on (is tracing on, which exporter), read by their standard
names and refused in one line when Inkwell cannot use them; the rest read by the OpenTelemetry SDK itself."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import DEFAULT_ON, ParentBasedTraceIdRatio, Sampler
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell import __version__
from inkwell.config import Settings
from inkwell.startup import problem_with
from inkwell.tracing import Tracing, exporter_for, start_tracing
from tests.tracing.conftest import running

Sessions = async_sessionmaker[AsyncSession]


def test_the_variables_inkwell_decides_on_are_read_by_their_standard_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "CONSOLE")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/spans")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")

    settings = Settings(_env_file=None)

    assert settings.otel_traces_exporter == "console"
    assert settings.otel_exporter_otlp_traces_endpoint == "http://collector:4318/spans"
    assert settings.otlp_traces_protocol == "http/protobuf"
    assert settings.otel_sdk_disabled is True


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("OTEL_TRACES_EXPORTER", "jaeger", "Input should be 'otlp', 'console' or 'none'"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "Input should be 'http/protobuf'"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc", "Input should be 'http/protobuf'"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "must start with http:// or https://"),
    ],
)
def test_a_value_inkwell_cannot_use_is_refused_by_the_variables_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)

    problem = problem_with(refused.value)
    assert problem is not None
    assert problem.startswith(f"{name}: {says}"), problem


def test_a_dotenv_file_sets_no_otel_variable(tmp_path: Path) -> None:
    # The SDK would never see them there: an exporter named in .env would send to an endpoint it ignores.
    dotenv = tmp_path / ".env"
    dotenv.write_text("INKWELL_LOG_LEVEL=debug\nOTEL_TRACES_EXPORTER=console\nOTEL_SDK_DISABLED=true\n")

    settings = Settings(_env_file=dotenv)

    assert settings.log_level == "debug"
    assert (settings.otel_traces_exporter, settings.otel_sdk_disabled) == (None, False)
    assert start_tracing(settings) is None


@pytest.mark.parametrize(
    ("variables", "exporter"),
    [
        ({}, None),
        ({"otel_traces_exporter": "none"}, None),
        ({"otel_traces_exporter": "console"}, "ConsoleSpanExporter"),
        ({"otel_traces_exporter": "otlp"}, "OTLPSpanExporter"),
        ({"otel_exporter_otlp_endpoint": "http://collector:4318"}, "OTLPSpanExporter"),
        ({"otel_exporter_otlp_traces_endpoint": "http://collector:4318/v1/traces"}, "OTLPSpanExporter"),
        ({"otel_traces_exporter": "console", "otel_sdk_disabled": True}, None),
    ],
)
def test_the_variables_choose_the_exporter(
    settings: Settings, variables: dict[str, object], exporter: str | None
) -> None:
    chosen = exporter_for(settings.model_copy(update=variables))

    assert (type(chosen).__name__ if chosen else None) == exporter


def described(sampler: Sampler) -> str:
    return sampler.get_description()


def test_the_sdk_names_the_service_and_chooses_the_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    default = Tracing.exporting_to(InMemorySpanExporter(), batch=False)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "inkwell-eu")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    configured = Tracing.exporting_to(InMemorySpanExporter(), batch=False)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "sometimes")
    unknown = Tracing.exporting_to(InMemorySpanExporter(), batch=False)

    assert default.provider.resource.attributes["service.name"] == "inkwell"
    assert default.provider.resource.attributes["service.version"] == __version__
    assert described(default.provider.sampler) == described(DEFAULT_ON)
    assert configured.service_name == "inkwell-eu"
    assert configured.provider.resource.attributes["deployment.environment"] == "prod"
    assert configured.provider.resource.attributes["service.version"] == __version__
    assert described(configured.provider.sampler) == described(ParentBasedTraceIdRatio(0.25))
    # A sampler the SDK does not know: it says so in the log and samples as by default.
    assert described(unknown.provider.sampler) == described(DEFAULT_ON)
    for tracing in (default, configured, unknown):
        tracing.shutdown()


@dataclass
class Collector:
    """What an OTLP/HTTP collector received: each export's path, headers and spans."""

    url: str
    exports: list[tuple[str, dict[str, str], ExportTraceServiceRequest]] = field(default_factory=list)


@contextmanager
def collector() -> Iterator[Collector]:
    received = Collector(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.exports.append((self.path, dict(self.headers), request))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    ("variable", "path"),
    [("OTEL_EXPORTER_OTLP_ENDPOINT", ""), ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "/spans")],
)
async def test_spans_go_where_the_variables_say_as_the_sdk_reads_them(
    settings: Settings,
    committed_sessionmaker: Sessions,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    path: str,
) -> None:
    with collector() as received:
        monkeypatch.setenv(variable, received.url + path)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=from-the-variables")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "inkwell-collected")
        # As Inkwell reads the same variable: its setting is named after it.
        traced = settings.model_copy(update={variable.lower(): received.url + path})
        tracing = start_tracing(traced)
        assert tracing is not None
        async with running(traced, tracing) as client:
            assert (await client.get("/posts")).status_code == 200
        tracing.shutdown()  # sends what the batch still holds

    [(posted_to, headers, export)] = received.exports
    assert posted_to == (path or "/v1/traces")
    assert headers["api-key"] == "from-the-variables"
    [resource_spans] = export.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    assert service == "inkwell-collected"
    names = [span.name for scope in resource_spans.scope_spans for span in scope.spans]
    assert "GET /posts" in names


@pytest.mark.parametrize(
    ("sampler", "ratio", "traced"),
    [
        ("always_on", "1", True),
        ("always_off", "1", False),
        ("traceidratio", "0", False),
        ("parentbased_traceidratio", "1", True),
        ("parentbased_always_off", "1", False),
    ],
)
async def test_the_sampler_decides_which_requests_are_traced(
    settings: Settings,
    committed_sessionmaker: Sessions,
    monkeypatch: pytest.MonkeyPatch,
    sampler: str,
    ratio: str,
    traced: bool,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", sampler)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", ratio)
    spans = InMemorySpanExporter()
    tracing = Tracing.exporting_to(spans, batch=False)

    async with running(settings, tracing) as client:
        assert (await client.get("/posts")).status_code == 200
    tracing.shutdown()

    assert bool(spans.get_finished_spans()) is traced
