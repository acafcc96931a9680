"""The two ceilings: a bare FastAPI endpoint, and a plain ASGI handler on a raw asyncpg pool."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bench.ceilings import RawUserApp, bare_app, parse_user_id
from bench.seed import asyncpg_dsn
from inkwell.users.models import User
from tests.factories import make_user


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/users/1", 1),
        ("/users/2147483647", 2**31 - 1),
        ("/users/2147483648", None),
        ("/users/0", None),
        ("/users/-1", None),
        ("/users/abc", None),
        ("/users/", None),
        ("/users/1/posts", None),
        ("/posts/1", None),
        ("/users/99999999999999999999", None),
    ],
)
def test_parse_user_id(path: str, expected: int | None) -> None:
    assert parse_user_id(path) == expected


async def test_the_bare_endpoint_answers_a_user_without_a_database() -> None:
    transport = httpx.ASGITransport(app=bare_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://bare.test") as client:
        response = await client.get("/users/7")

    assert response.status_code == 200
    assert response.json()["id"] == 7
    assert set(response.json()) == {"id", "email", "name", "bio", "created_at", "updated_at"}


@pytest.fixture
async def raw_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = RawUserApp(asyncpg_dsn(database_url), pool_size=2)
    await app.startup()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://raw.test"
        ) as client:
            yield client
    finally:
        await app.shutdown()


@pytest.mark.backends("postgresql")  # the raw-driver ceiling is asyncpg on PostgreSQL
async def test_the_raw_handler_reads_a_user_by_primary_key(
    raw_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        user = await make_user(session, name="Raw", bio="Read straight from the driver.")
    try:
        found = await raw_client.get(f"/users/{user.id}")
        missing = await raw_client.get("/users/2147483647")
        not_a_route = await raw_client.post(f"/users/{user.id}")
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(User).where(User.id == user.id))

    assert found.status_code == 200
    body = found.json()
    assert (body["id"], body["name"], body["bio"]) == (user.id, "Raw", "Read straight from the driver.")
    assert body["created_at"].startswith(user.created_at.date().isoformat())
    assert missing.status_code == 404
    assert not_a_route.status_code == 404
