"""Failed sign-ins counted per account and per client address, in the database or in Redis.

Either way every server process sees the same counts. In the database a failure is a row and the window
slides; in Redis a key counts failures for a fixed window from the first one.
"""

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.auth.models import LoginFailure
from inkwell.db import read_session, rowcount, transaction
from inkwell.orm import utcnow

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)


def account_key(email: str) -> str:
    return f"account:{email.lower()}"


def address_key(address: str) -> str:
    return f"address:{address}"


def mail_keys(email: str, address: str) -> list[str]:
    """What mail requests are counted against: the address mailed to, and the client asking."""
    return [f"mail:{email.lower()}", f"mail-from:{address}"]


class Throttle(Protocol):
    async def retry_after(self, keys: Sequence[str]) -> int | None:
        """Seconds until a sign-in is allowed again for all of `keys`, or None when it is now."""

    async def record_failure(self, keys: Sequence[str], *, session: AsyncSession | None = None) -> None:
        """Count one attempt against each key: in a transaction of its own, or in `session`'s."""

    async def forget(self, key: str, *, session: AsyncSession | None = None) -> None:
        """Clear the failures counted against `key` (an account that just signed in)."""


class DatabaseThrottle:
    """Failures as rows. Written in a transaction of their own unless a session is given, so that a
    refused sign-in still counts though its request fails."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, max_failures: int, window: int
    ) -> None:
        self.sessionmaker = sessionmaker
        self.max_failures = max_failures
        self.window = window

    async def retry_after(self, keys: Sequence[str]) -> int | None:
        now = utcnow()
        waits = []
        async with read_session(self.sessionmaker) as session:
            for key in keys:
                oldest_that_counts = await self._blocking_failure(session, key, now)
                if oldest_that_counts is not None:
                    waits.append(oldest_that_counts + timedelta(seconds=self.window) - now)
        if not waits:
            return None
        return max(1, int(max(waits).total_seconds()) + 1)

    async def _blocking_failure(self, session: AsyncSession, key: str, now: datetime) -> datetime | None:
        # The max-th most recent failure in the window: sign-ins are allowed again once it leaves.
        query = (
            select(LoginFailure.failed_at)
            .where(LoginFailure.key == key, LoginFailure.failed_at > now - timedelta(seconds=self.window))
            .order_by(LoginFailure.failed_at.desc())
            .offset(self.max_failures - 1)
            .limit(1)
        )
        return await session.scalar(query)

    async def record_failure(self, keys: Sequence[str], *, session: AsyncSession | None = None) -> None:
        if session is None:
            async with transaction(self.sessionmaker, writes=True) as own:
                await self.record_failure(keys, session=own)
            return
        session.add_all(LoginFailure(key=key, failed_at=utcnow()) for key in keys)
        await session.flush()

    async def forget(self, key: str, *, session: AsyncSession | None = None) -> None:
        if session is None:
            async with transaction(self.sessionmaker, writes=True) as own:
                await self.forget(key, session=own)
            return
        await session.execute(delete(LoginFailure).where(LoginFailure.key == key))


async def purge_old_failures(session: AsyncSession, *, now: datetime, window: int) -> int:
    """Delete the failures that no longer count; how many."""
    result = await session.execute(
        delete(LoginFailure).where(LoginFailure.failed_at <= now - timedelta(seconds=window))
    )
    return rowcount(result)


class RedisThrottle:
    """Counts in Redis (`<prefix>:login:<key>`), expiring with the window.

    When Redis fails, the database's counts stand in, so sign-ins are never left unthrottled.
    """

    def __init__(self, redis: "Redis", *, prefix: str, fallback: DatabaseThrottle) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:login"
        self.fallback = fallback

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    async def retry_after(self, keys: Sequence[str]) -> int | None:
        from redis.exceptions import RedisError

        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(self._key(key))
                    pipe.ttl(self._key(key))
                replies = await pipe.execute()
        except RedisError as exc:
            logger.warning("login throttle: Redis unavailable (%s), counting in the database", exc)
            return await self.fallback.retry_after(keys)
        waits = [
            max(1, int(ttl))
            for count, ttl in zip(replies[::2], replies[1::2], strict=True)
            if count is not None and int(count) >= self.fallback.max_failures
        ]
        return max(waits) if waits else None

    async def record_failure(self, keys: Sequence[str], *, session: AsyncSession | None = None) -> None:
        from redis.exceptions import RedisError

        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.incr(self._key(key))
                    # The window starts at the first failure; later ones do not extend it.
                    pipe.expire(self._key(key), self.fallback.window, nx=True)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("login throttle: Redis unavailable (%s), counting in the database", exc)
            await self.fallback.record_failure(keys, session=session)

    async def forget(self, key: str, *, session: AsyncSession | None = None) -> None:
        from redis.exceptions import RedisError

        try:
            await self.redis.delete(self._key(key))
        except RedisError:
            await self.fallback.forget(key, session=session)
