"""The throttle's counts: in the database, in Redis, and in the database while Redis is away; exact
under concurrent attempts on every one of them."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.auth.models import ThrottleCounter
from inkwell.auth.throttle import (
    DatabaseThrottle,
    Limit,
    ProcessThrottle,
    RedisThrottle,
    Throttle,
    traffic_throttle_for,
)
from inkwell.config import Settings
from inkwell.db import Database
from inkwell.orm import utcnow
from inkwell.redis_client import create_redis
from tests.processes import free_port

ACCOUNT = Limit("account:ada@example.com", max_hits=2, window=60)
ADDRESS = Limit("address:192.0.2.1", max_hits=3, window=60)


@pytest.fixture
def in_database(database: Database) -> DatabaseThrottle:
    return DatabaseThrottle(database)


@pytest.fixture
async def redis_client(redis_server: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server)
    yield client
    await client.aclose()


@pytest.fixture
async def dead_redis() -> AsyncIterator[Redis]:
    """The app's own client, on a port where nothing listens."""
    settings = Settings(_env_file=None, redis_url=SecretStr(f"redis://127.0.0.1:{free_port()}/0"))
    client = create_redis(settings, timeout=settings.redis_timeout)
    assert client is not None
    yield client
    await client.aclose()


async def hits_until_refused(throttle: Throttle, limits: list[Limit], times: int) -> list[int | None]:
    return [await throttle.hit(limits) for _ in range(times)]


async def test_the_database_lets_each_key_through_up_to_its_own_limit(in_database: DatabaseThrottle) -> None:
    waits = await hits_until_refused(in_database, [ACCOUNT, ADDRESS], 3)
    other_account = Limit("account:someone@example.com", max_hits=2, window=60)

    assert waits[:2] == [None, None]
    assert waits[2] is not None
    assert 1 <= waits[2] <= 61
    # The address (limit 3) took three hits: one more is refused for any account.
    assert await in_database.hit([other_account, ADDRESS]) is not None


async def test_a_new_window_starts_once_the_last_one_ended(
    in_database: DatabaseThrottle, session: AsyncSession
) -> None:
    await hits_until_refused(in_database, [ACCOUNT], 3)
    await session.execute(update(ThrottleCounter).values(window_ends=utcnow() - timedelta(seconds=1)))
    await session.commit()

    assert await in_database.hit([ACCOUNT]) is None
    assert await in_database.hit([ACCOUNT]) is None
    assert await in_database.hit([ACCOUNT]) is not None


async def test_refused_hits_do_not_extend_the_window(in_database: DatabaseThrottle) -> None:
    waits = await hits_until_refused(in_database, [ACCOUNT], 6)

    refused = [wait for wait in waits if wait is not None]
    assert len(refused) == 4
    # Still counting down from the first hit, not restarted by the later ones.
    assert max(refused) <= 61


async def test_forget_and_refund(in_database: DatabaseThrottle) -> None:
    await hits_until_refused(in_database, [ACCOUNT, ADDRESS], 2)
    await in_database.forget(ACCOUNT.key)
    await in_database.refund(ADDRESS.key)
    await in_database.refund("address:never-seen")

    # The account starts again from zero; the address has one of its two hits back (1 of 3 used).
    assert await hits_until_refused(in_database, [ACCOUNT, ADDRESS], 2) == [None, None]
    assert await in_database.hit([ADDRESS]) is not None


async def test_redis_lets_each_key_through_up_to_its_own_limit(
    in_database: DatabaseThrottle, redis_client: Redis, redis_prefix: str
) -> None:
    throttle = RedisThrottle(redis_client, prefix=redis_prefix, fallback=in_database)

    waits = await hits_until_refused(throttle, [ACCOUNT, ADDRESS], 3)
    await throttle.forget(ACCOUNT.key)
    await throttle.refund(ADDRESS.key)
    await throttle.refund("address:never-seen")
    again = await throttle.hit([ACCOUNT, ADDRESS])

    assert waits[:2] == [None, None]
    assert waits[2] is not None
    assert 1 <= waits[2] <= 60
    assert again is None  # the account was forgotten; the address had 3, one refunded, now 3 again
    assert await throttle.hit([ADDRESS]) is not None
    assert await redis_client.exists(f"{redis_prefix}:throttle:address:never-seen") == 0
    # Nothing was counted in the database.
    assert await in_database.hit([Limit(ACCOUNT.key, max_hits=1, window=60)]) is None


async def test_without_redis_the_database_counts_with_a_warning(
    in_database: DatabaseThrottle, dead_redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    throttle = RedisThrottle(dead_redis, prefix="inkwell", fallback=in_database)

    with caplog.at_level(logging.WARNING):
        started = time.monotonic()
        waits = await hits_until_refused(throttle, [ACCOUNT], 3)
        seconds = time.monotonic() - started

    assert waits[:2] == [None, None]
    assert waits[2] is not None
    # Each call fails at once rather than after redis-py's retries (8 s each by default).
    assert seconds < 3
    assert "Redis unavailable" in caplog.text


# --- concurrent attempts: however many arrive at once, no more than the limit get through ---

RACE = Limit("account:raced@example.com", max_hits=5, window=60)


async def race(throttle: Throttle, attempts: int) -> list[int | None]:
    return list(await asyncio.gather(*(throttle.hit([RACE]) for _ in range(attempts))))


async def test_concurrent_hits_in_the_database_let_exactly_the_limit_through(
    committed_database: Database,
) -> None:
    waits = await race(DatabaseThrottle(committed_database), 15)

    assert waits.count(None) == RACE.max_hits


async def test_concurrent_hits_in_redis_let_exactly_the_limit_through(
    committed_database: Database, redis_client: Redis, redis_prefix: str
) -> None:
    throttle = RedisThrottle(redis_client, prefix=redis_prefix, fallback=DatabaseThrottle(committed_database))

    waits = await race(throttle, 15)

    assert waits.count(None) == RACE.max_hits


async def test_a_process_counts_each_key_in_its_own_fixed_window() -> None:
    now = [100.0]
    throttle = ProcessThrottle(clock=lambda: now[0])

    waits = await hits_until_refused(throttle, [ACCOUNT, ADDRESS], 3)
    now[0] += 30
    still = await throttle.hit([ACCOUNT])
    await throttle.refund(ADDRESS.key)
    address_again = await throttle.hit([ADDRESS])
    now[0] += 31  # the window that started at 100 has ended
    fresh = await hits_until_refused(throttle, [ACCOUNT], 2)
    await throttle.forget(ACCOUNT.key)

    assert waits == [None, None, 60]
    assert still == 30
    assert address_again is None  # three of three, with one given back
    assert fresh == [None, None]
    assert await throttle.hit([ACCOUNT]) is None


async def test_the_traffic_throttle_never_writes_to_the_database(
    database: Database, settings: Settings, session: AsyncSession
) -> None:
    throttle = traffic_throttle_for(database, settings)

    waits = await hits_until_refused(throttle, [ACCOUNT], 3)

    assert waits[2] is not None
    assert (await session.execute(select(func.count()).select_from(ThrottleCounter))).scalar() == 0
