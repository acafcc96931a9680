"""Request spans: named by route template, with the request id, statements and Redis commands inside,
and nothing a client sent that is secret."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.responses import StreamingResponse
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import ProxyTracerProvider, SpanKind, StatusCode
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.main import create_app
from inkwell.tracing import REQUEST_ID, Tracing, start_tracing
from tests.accounts import new_account
from tests.apps import asgi_client
from tests.tracing.conftest import children, everything_said, running, server_span

Sessions = async_sessionmaker[AsyncSession]


async def test_tracing_is_off_unless_an_otel_variable_asks_for_it(
    settings: Settings, committed_sessionmaker: Sessions
) -> None:
    assert start_tracing(settings) is None
    app = create_app(settings)

    async with app.router.lifespan_context(app), asgi_client(app) as client:
        assert (await client.get("/posts/1")).status_code == 404
        engine = app.state.database.engine
        assert not engine.sync_engine.dispatch.before_cursor_execute  # no statement is watched

    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert isinstance(trace.get_tracer_provider(), ProxyTracerProvider)  # none was installed


async def test_a_request_span_is_named_by_its_route_and_holds_its_statements(
    settings: Settings, tracing: Tracing, spans: InMemorySpanExporter, committed_sessionmaker: Sessions
) -> None:
    async with running(settings, tracing) as client:
        account = await new_account(client)
        spans.clear()
        response = await client.get(
            f"/users/{account.id}", headers={"X-Request-ID": "trace-me-1", **account.headers}
        )

    assert response.status_code == 200
    request = server_span(spans, "GET /users/{user_id}")
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/users/{user_id}"
    assert request.attributes["http.status_code"] == 200
    assert request.attributes[REQUEST_ID] == "trace-me-1"
    statements = children(spans, request)
    assert statements
    assert all(span.kind is SpanKind.CLIENT for span in statements)
    assert any("FROM users" in str((span.attributes or {}).get("db.statement")) for span in statements)


async def test_the_request_id_inkwell_gives_is_the_one_on_the_span(
    settings: Settings, tracing: Tracing, spans: InMemorySpanExporter, committed_sessionmaker: Sessions
) -> None:
    async with running(settings, tracing) as client:
        response = await client.get("/posts")

    attributes = server_span(spans, "GET /posts").attributes
    assert attributes is not None
    assert attributes[REQUEST_ID] == response.headers["X-Request-ID"]


async def test_a_request_no_route_takes_is_named_by_its_method_alone(
    settings: Settings, tracing: Tracing, spans: InMemorySpanExporter, committed_sessionmaker: Sessions
) -> None:
    async with running(settings, tracing) as client:
        missing_route = await client.get("/nowhere/ada@example.com/42")
        missing_post = await client.get("/posts/987654321")

    assert (missing_route.status_code, missing_post.status_code) == (404, 404)
    names = sorted(span.name for span in spans.get_finished_spans() if span.kind is SpanKind.SERVER)
    assert names == ["GET", "GET /posts/{post_id}"]


async def test_probes_and_scrapes_are_not_traced(
    settings: Settings, tracing: Tracing, spans: InMemorySpanExporter, committed_sessionmaker: Sessions
) -> None:
    async with running(settings, tracing) as client:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200

    assert spans.get_finished_spans() == ()


async def test_no_parameter_body_or_credential_reaches_a_span(
    settings: Settings, tracing: Tracing, spans: InMemorySpanExporter, committed_sessionmaker: Sessions
) -> None:
    secrets = [
        "grace@example.com",
        "Grace Hopper",
        "a-bio-no-one-may-read",
        "a password no span may hold",
        "Bearer sekrit-token-123",
    ]
    body = {
        "email": "grace@example.com",
        "name": "Grace Hopper",
        "bio": "a-bio-no-one-may-read",
        "password": "a password no span may hold",
    }
    headers = {"Authorization": "Bearer sekrit-token-123", "Cookie": "session=sekrit-token-123"}

    async with running(settings, tracing) as client:
        assert (await client.post("/users", json=body, headers=headers)).status_code == 201
        # The same email again: the database refuses it (MariaDB's message quotes the value).
        assert (await client.post("/users", json=body, headers=headers)).status_code == 409

    said = [everything_said(span) for span in spans.get_finished_spans()]
    assert any("INSERT INTO users" in text for text in said)
    assert any(span.status.status_code is StatusCode.ERROR for span in spans.get_finished_spans())
    for secret in [*secrets, "sekrit-token-123"]:
        assert not [text for text in said if secret in text], secret


async def test_the_cache_commands_of_a_request_are_inside_its_span(
    settings: Settings,
    tracing: Tracing,
    spans: InMemorySpanExporter,
    committed_sessionmaker: Sessions,
    redis_server: str,
    redis_prefix: str,
) -> None:
    cached = settings.model_copy(update={"redis_url": SecretStr(redis_server), "redis_prefix": redis_prefix})

    async with running(cached, tracing) as client:
        assert (await client.get("/posts")).status_code == 200
        assert (await client.get("/posts")).status_code == 200

    requests = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert [s.name for s in requests] == ["GET /posts", "GET /posts"]
    commands = [
        span
        for request in requests
        for span in children(spans, request)
        if (span.attributes or {}).get("db.system") == "redis"
    ]
    assert commands
    # Each command by name, its key and value left out.
    assert all(redis_prefix not in everything_said(span) for span in commands)


@pytest.mark.parametrize("traced", [False, True], ids=["untraced", "traced"])
async def test_no_method_of_the_app_is_replaced_on_the_app_itself(
    settings: Settings, tracing: Tracing, traced: bool
) -> None:
    app = create_app(settings, tracing=tracing if traced else None)
    async with asgi_client(app) as client:  # its middleware stack is built by the first request
        assert (await client.get("/openapi.json")).status_code == 200

    assert app.middleware_stack is not None
    assert "build_middleware_stack" not in vars(app)
    assert "openapi" not in vars(app)
    shadowing = [name for name, value in vars(app).items() if callable(getattr(type(app), name, None))]
    assert shadowing == []


@pytest.mark.parametrize("address", ["ada@example.com", "zoë.müller@bücher.de", "john.smith!ops@example.com"])
async def test_a_server_error_is_traced_inside_the_outermost_wrapping_with_its_message_redacted(
    settings: Settings, tracing: Tracing, spans: InMemorySpanExporter, address: str
) -> None:
    async def broken() -> None:
        raise RuntimeError(f"refresh_token=sekrit-token-123 for {address}")

    app = create_app(settings, tracing=tracing)
    app.add_api_route("/broken", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkwell.test") as client:
        response = await client.get("/broken")

    # The request log and the security headers still wrap everything, the traced stack included.
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"
    request = server_span(spans, "GET /broken")
    assert request.status.status_code is StatusCode.ERROR
    assert (request.attributes or {})[REQUEST_ID] == response.headers["X-Request-ID"]
    said = everything_said(request)
    assert "RuntimeError" in said
    assert "***@" + address.split("@")[1] in said
    assert "sekrit-token-123" not in said
    # The local part with its @: alone, a short one (`ada`) may turn up in a random id of the span.
    assert address.split("@")[0] + "@" not in said


async def test_an_error_after_the_response_started_is_traced_with_its_message_redacted(
    settings: Settings, tracing: Tracing, spans: InMemorySpanExporter
) -> None:
    async def halfway() -> AsyncIterator[bytes]:
        yield b"["
        raise RuntimeError("refresh_token=sekrit-token-123 for ada@example.com")

    async def streaming() -> StreamingResponse:
        return StreamingResponse(halfway(), media_type="application/json")

    app = create_app(settings, tracing=tracing)
    app.add_api_route("/streaming", streaming)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkwell.test") as client:
        response = await client.get("/streaming")

    # The 200 had started: no 500 could follow, and no body-end ended the span.
    assert response.status_code == 200
    request = server_span(spans, "GET /streaming")
    assert request.status.status_code is StatusCode.ERROR
    said = everything_said(request)
    assert "***@example.com" in said
    assert "sekrit-token-123" not in said
    assert "ada@example.com" not in said
