"""The throttle's counts: in the database, in Redis, and in the database while Redis is away."""

import logging
import time
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.auth.throttle import DatabaseThrottle, RedisThrottle
from inkwell.config import Settings
from inkwell.redis_client import create_redis
from tests.processes import free_port

KEYS = ["account:ada@example.com", "address:192.0.2.1"]


@pytest.fixture
def in_database(sessionmaker: async_sessionmaker[AsyncSession]) -> DatabaseThrottle:
    return DatabaseThrottle(sessionmaker, max_failures=2, window=60)


@pytest.fixture
async def dead_redis() -> AsyncIterator[Redis]:
    """The app's own client, on a port where nothing listens."""
    settings = Settings(_env_file=None, redis_url=SecretStr(f"redis://127.0.0.1:{free_port()}/0"))
    client = create_redis(settings, timeout=settings.redis_timeout)
    assert client is not None
    yield client
    await client.aclose()


async def test_the_database_counts_up_to_the_limit(in_database: DatabaseThrottle) -> None:
    await in_database.record_failure(KEYS)
    assert await in_database.retry_after(KEYS) is None

    await in_database.record_failure(KEYS)
    wait = await in_database.retry_after(KEYS)

    assert wait is not None
    assert 1 <= wait <= 61
    assert await in_database.retry_after(["account:someone@example.com"]) is None


async def test_redis_counts_up_to_the_limit(
    in_database: DatabaseThrottle, redis_server: str, redis_prefix: str
) -> None:
    client = Redis.from_url(redis_server)
    throttle = RedisThrottle(client, prefix=redis_prefix, fallback=in_database)
    try:
        await throttle.record_failure(KEYS)
        first = await throttle.retry_after(KEYS)
        await throttle.record_failure(KEYS)
        blocked = await throttle.retry_after(KEYS)
        await throttle.forget(KEYS[0])
        address_only = await throttle.retry_after(KEYS[1:])
        account_only = await throttle.retry_after(KEYS[:1])
    finally:
        await client.aclose()

    assert first is None
    assert blocked is not None
    assert 1 <= blocked <= 60
    assert address_only is not None
    assert account_only is None
    # Nothing was counted in the database.
    assert await in_database.retry_after(KEYS) is None


async def test_without_redis_the_database_counts_with_a_warning(
    in_database: DatabaseThrottle, dead_redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = RedisThrottle(dead_redis, prefix="inkwell", fallback=in_database)

    with caplog.at_level(logging.WARNING):
        started = time.monotonic()
        await throttle.record_failure(KEYS)
        await throttle.record_failure(KEYS)
        wait = await throttle.retry_after(KEYS)
        seconds = time.monotonic() - started

    assert wait is not None
    # Each call fails at once rather than after redis-py's retries (8 s each by default).
    assert seconds < 3
    assert "Redis unavailable" in caplog.text
