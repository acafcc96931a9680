"""The stand-in collector of the traced run takes what the real OTLP exporter sends."""

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from bench.otlp import otlp_sink


def test_the_sink_accepts_the_exports_of_the_otlp_exporter() -> None:
    with otlp_sink() as (endpoint, received):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
        with provider.get_tracer("bench").start_as_current_span("GET /users/{user_id}"):
            pass
        provider.shutdown()

    assert received.exports == 1
    assert received.bytes > 0
