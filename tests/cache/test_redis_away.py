"""Redis going away: the cache steps aside with one warning, the client never sees an error, and what
was cached before an outage is never served after it."""

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from inkwell.cache.store import Cache
from inkwell.config import Settings
from redis import Redis
from tests.cache.conftest import app_with_cache, cache_on
from tests.databases import Backend
from tests.factories import make_post, make_user
from tests.processes import free_port
from tests.redis import PrivateRedis

RETRY_AFTER = 0.5


def client_for(settings: Settings, connection: AsyncConnection, cache: Cache) -> httpx.AsyncClient:
    app = app_with_cache(settings, connection, cache)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inkwell.test")


def cache_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "inkwell.cache.store"]


@pytest.fixture
def private_redis(process_backend: Backend, tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def private_cache(private_redis: PrivateRedis) -> AsyncIterator[Cache]:
    cache = cache_on(private_redis.url, "inkwell", retry_after=RETRY_AFTER)
    yield cache
    await cache.redis.aclose()


async def test_with_no_redis_listening_every_request_is_served_from_the_database(
    open_settings: Settings,
    connection: AsyncConnection,
    session: AsyncSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = cache_on(f"redis://127.0.0.1:{free_port()}/0", "inkwell")
    user = await make_user(session, name="Ada")
    post = await make_post(session, user)

    async with client_for(open_settings, connection, cache) as client:
        reads = [
            await client.get(path)
            for path in (f"/users/{user.id}", f"/posts/{post.id}", "/posts", f"/users/{user.id}/posts")
        ]
        patched = await client.patch(f"/posts/{post.id}", json={"title": "Changed"})
        read_back = await client.get(f"/users/{user.id}/posts")
    await cache.redis.aclose()

    assert [response.status_code for response in reads] == [200] * 4
    assert (patched.status_code, read_back.json()[0]["title"]) == (200, "Changed")
    [warning] = cache_warnings(caplog)  # one per outage, not one per request
    assert warning.levelno == logging.WARNING
    assert "Redis is unavailable" in warning.getMessage()
    assert warning.exc_info is None


async def test_a_write_while_redis_hangs_is_never_hidden_by_the_old_entry_afterwards(
    open_settings: Settings,
    connection: AsyncConnection,
    session: AsyncSession,
    private_redis: PrivateRedis,
    private_cache: Cache,
    caplog: pytest.LogCaptureFixture,
) -> None:
    post = await make_post(session, await make_user(session), title="Before")
    async with client_for(open_settings, connection, private_cache) as client:
        assert (await client.get("/posts")).json()[0]["title"] == "Before"  # now cached
        with Redis.from_url(private_redis.url) as admin:
            admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")  # Redis stops answering, keeps its data

        patched = await client.patch(f"/posts/{post.id}", json={"title": "After"})  # invalidation is lost
        during = await client.get("/posts")
        await asyncio.sleep(1.5 + RETRY_AFTER)  # Redis answers again
        after = await client.get("/posts")
        cached_again = await client.get("/posts")

    assert patched.status_code == 200
    assert [r.json()[0]["title"] for r in (during, after, cached_again)] == ["After"] * 3
    messages = [record.getMessage() for record in cache_warnings(caplog)]
    assert any("Redis is unavailable" in message for message in messages)
    assert any("Redis answers again" in message for message in messages)


async def test_redis_stopped_and_started_again(
    open_settings: Settings,
    connection: AsyncConnection,
    session: AsyncSession,
    private_redis: PrivateRedis,
    private_cache: Cache,
) -> None:
    user = await make_user(session)
    post = await make_post(session, user)
    path = f"/users/{user.id}/posts"
    async with client_for(open_settings, connection, private_cache) as client:
        assert (await client.get(path)).status_code == 200
        private_redis.stop()
        while_stopped = [await client.get(path) for _ in range(3)]
        patched = await client.patch(f"/posts/{post.id}", json={"title": "Changed"})
        private_redis.start()
        await asyncio.sleep(RETRY_AFTER)
        after = await client.get(path)

    assert [r.status_code for r in while_stopped] == [200] * 3
    assert patched.status_code == 200
    assert after.json()[0]["title"] == "Changed"
    with Redis.from_url(private_redis.url) as admin:
        assert admin.keys("inkwell:cache:d:*")  # in use again
