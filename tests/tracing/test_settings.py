"""The OTEL_* variables: read as the standard names them, refused in one line when Inkwell cannot use them."""

import pytest
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.startup import problem_with
from inkwell.tracing import Tracing, exporter_for
from tests.tracing.conftest import running

Sessions = async_sessionmaker[AsyncSession]


def test_the_variables_are_read_by_their_standard_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "CONSOLE")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "inkwell-eu")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")

    settings = Settings(_env_file=None)

    assert (settings.otel_traces_exporter, settings.otel_service_name) == ("console", "inkwell-eu")
    assert settings.otel_traces_sampler == "parentbased_traceidratio"
    assert settings.otel_traces_sampler_arg == 0.25


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("OTEL_TRACES_EXPORTER", "jaeger", "Input should be 'otlp', 'console' or 'none'"),
        ("OTEL_TRACES_SAMPLER", "sometimes", "Input should be 'always_on'"),
        ("OTEL_TRACES_SAMPLER_ARG", "2", "Input should be less than or equal to 1"),
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


@pytest.mark.parametrize(
    ("variables", "exporter"),
    [
        ({}, None),
        ({"otel_traces_exporter": "none"}, None),
        ({"otel_traces_exporter": "console"}, "ConsoleSpanExporter"),
        ({"otel_traces_exporter": "otlp"}, "OTLPSpanExporter"),
        ({"otel_exporter_otlp_endpoint": "http://collector:4318"}, "OTLPSpanExporter"),
        ({"otel_traces_exporter": "console", "otel_sdk_disabled": True}, None),
    ],
)
def test_the_variables_choose_the_exporter(
    settings: Settings, variables: dict[str, object], exporter: str | None
) -> None:
    chosen = exporter_for(settings.model_copy(update=variables))

    assert (type(chosen).__name__ if chosen else None) == exporter


def test_the_otlp_endpoint_gets_the_traces_path_unless_it_is_the_traces_endpoint(settings: Settings) -> None:
    general = exporter_for(settings.model_copy(update={"otel_exporter_otlp_endpoint": "http://c:4318/"}))
    traces = exporter_for(
        settings.model_copy(update={"otel_exporter_otlp_traces_endpoint": "http://c:4318/spans"})
    )

    assert getattr(general, "_endpoint", None) == "http://c:4318/v1/traces"
    assert getattr(traces, "_endpoint", None) == "http://c:4318/spans"
    assert not isinstance(general, ConsoleSpanExporter)


@pytest.mark.parametrize(
    ("sampler", "ratio", "traced"),
    [
        ("always_on", 1.0, True),
        ("always_off", 1.0, False),
        ("traceidratio", 0.0, False),
        ("parentbased_traceidratio", 1.0, True),
        ("parentbased_always_off", 1.0, False),
    ],
)
async def test_the_sampler_decides_which_requests_are_traced(
    settings: Settings, committed_sessionmaker: Sessions, sampler: str, ratio: float, traced: bool
) -> None:
    sampled = settings.model_copy(update={"otel_traces_sampler": sampler, "otel_traces_sampler_arg": ratio})
    spans = InMemorySpanExporter()
    tracing = Tracing.exporting_to(spans, sampled, batch=False)

    async with running(sampled, tracing) as client:
        assert (await client.get("/posts")).status_code == 200
    tracing.shutdown()

    assert bool(spans.get_finished_spans()) is traced
