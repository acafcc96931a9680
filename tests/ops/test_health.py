"""/healthz and /readyz: cheap, unauthenticated, and honest about the database."""

from collections.abc import AsyncIterator

import httpx
import pytest

from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.main import create_app


async def test_healthz_answers_without_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_ok_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_with_sign_in_off_they_answer_alike(open_client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = await open_client.get(path)

        assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.fixture
async def unreachable_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a PostgreSQL address where nothing listens (port 9, discard)."""
    down = settings.model_copy(update={"database_url": "postgresql://inkwell:secret@127.0.0.1:9/none"})
    engine = create_engine(down)
    app = create_app(down, database=Database(engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inkwell.test") as c:
        yield c
    await engine.dispose()


async def test_readyz_is_503_with_the_reason_when_the_database_is_unreachable(
    unreachable_client: httpx.AsyncClient,
) -> None:
    ready = await unreachable_client.get("/readyz")
    alive = await unreachable_client.get("/healthz")

    assert ready.status_code == 503
    assert ready.json() == {"detail": "The database does not answer: ConnectionRefusedError"}
    assert "secret" not in ready.text
    assert alive.status_code == 200


async def test_readyz_is_503_when_the_database_is_too_slow(settings: Settings) -> None:
    engine = create_engine(settings)
    app = create_app(settings.model_copy(update={"ready_timeout": 1e-9}), database=Database(engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inkwell.test") as c:
        response = await c.get("/readyz")
    await engine.dispose()

    assert response.status_code == 503
    assert response.json() == {"detail": "The database did not answer within 1e-09 s"}


async def test_health_routes_are_documented(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert set(paths["/healthz"]) == {"get"}
    assert "503" in paths["/readyz"]["get"]["responses"]
