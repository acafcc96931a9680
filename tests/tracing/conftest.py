"""Traces collected in memory, from a provider of the test's own (never the process-wide one)."""

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from inkwell.config import Settings
from inkwell.main import create_app
from inkwell.tracing import Tracing
from tests.apps import asgi_client


@pytest.fixture(autouse=True)
def no_otel_variables_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK reads the OTEL_* variables itself: each test sets those it is about, and no others."""
    for name in os.environ:
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracing(settings: Settings, spans: InMemorySpanExporter) -> Iterator[Tracing]:
    """Tracing as the OTEL_* variables set it up, each span handed over as it ends."""
    tracing = Tracing.exporting_to(spans, batch=False)
    yield tracing
    tracing.shutdown()


@asynccontextmanager
async def running(settings: Settings, tracing: Tracing | None) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a server runs it: its own engine (and Redis, and job runner) opened by its lifespan.

    What it commits is deleted by the `committed_sessionmaker` fixture, which tests using this name.
    """
    app = create_app(settings, tracing=tracing)
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield client


def server_span(spans: InMemorySpanExporter, name: str) -> ReadableSpan:
    [span] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER and s.name == name]
    return span


def children(spans: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        s
        for s in spans.get_finished_spans()
        if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def everything_said(span: ReadableSpan) -> str:
    """Every text a span carries: name, attributes, status, events."""
    events = [(event.name, dict(event.attributes or {})) for event in span.events]
    return repr((span.name, dict(span.attributes or {}), span.status.description, events))


async def wait_for_span(
    spans: InMemorySpanExporter, found: Callable[[ReadableSpan], bool], *, within: float = 30
) -> ReadableSpan:
    async with asyncio.timeout(within):
        while True:
            for span in spans.get_finished_spans():
                if found(span):
                    return span
            await asyncio.sleep(0.02)
