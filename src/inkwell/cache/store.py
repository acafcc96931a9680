"""A read-through cache of API responses in Redis, with versioned keys.

Each cached thing belongs to a namespace (`user:7`, `posts`, ...) whose version is a random token kept
in Redis. A reader fetches the version and the data under it in one round trip (a Lua script); a write
replaces the version once its transaction has committed. A reader that loaded from the database just
before a write stores under the old version, which nobody reads again: a read that starts after the
write's response was sent never sees the old data, in any process.

Redis going away is never an error for the client: the cache steps aside for a few seconds at a time,
warns once, and serves from the database. Invalidations may have been lost meanwhile, so on its return
the whole cache is dropped at once (a new epoch) before it is used again.
"""

import logging
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inkwell.config import Settings
from inkwell.redis_client import create_redis

if TYPE_CHECKING:  # the client is imported only where Redis is configured: it slows every start-up
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

# How long the cache steps aside after Redis fails, before trying it again.
RETRY_AFTER_SECONDS = 5.0

_FETCH = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
    epoch = ARGV[3]
    redis.call('SET', KEYS[1], epoch)
end
local version = redis.call('GET', KEYS[2])
if not version then
    version = ARGV[4]
    redis.call('SET', KEYS[2], version, 'EX', ARGV[5])
else
    redis.call('EXPIRE', KEYS[2], ARGV[5])
end
local key = ARGV[1] .. epoch .. ':' .. version .. ':' .. ARGV[2]
return {key, redis.call('GET', key)}
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """What a lookup found: the value, and the key to store one under (None when Redis is away)."""

    key: str | None
    value: bytes | None


NO_ENTRY = Entry(None, None)


def create_cache(settings: Settings) -> "Cache | None":
    """The cache on `INKWELL_REDIS_URL`, or None when it is unset."""
    redis = create_redis(settings, timeout=settings.redis_timeout)
    return None if redis is None else Cache(redis, prefix=settings.redis_prefix, ttl=settings.cache_ttl)


def _token() -> str:
    return secrets.token_hex(8)


class Cache:
    def __init__(
        self, redis: "Redis", *, prefix: str, ttl: int, retry_after: float = RETRY_AFTER_SECONDS
    ) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:cache"
        self.ttl = ttl
        self.retry_after = retry_after
        self._fetch = redis.register_script(_FETCH)
        self._away_until = 0.0
        self._drop_all_on_return = False

    def _version_key(self, namespace: str) -> str:
        return f"{self.prefix}:v:{namespace}"

    @property
    def _epoch_key(self) -> str:
        return f"{self.prefix}:epoch"

    async def get(self, namespace: str, variant: str = "") -> Entry:
        if not await self._usable():
            return NO_ENTRY
        try:
            key, value = await self._fetch(
                keys=[self._epoch_key, self._version_key(namespace)],
                args=[f"{self.prefix}:d:{namespace}:", variant, _token(), _token(), self.ttl * 2],
            )
        except Exception as exc:  # whatever fails in the cache, the database still answers
            self._went_away(exc)
            return NO_ENTRY
        return Entry(key.decode(), value)

    async def put(self, entry: Entry, value: bytes) -> None:
        if entry.key is None or not await self._usable():
            return
        try:
            await self.redis.set(entry.key, value, ex=self.ttl)
        except Exception as exc:  # whatever fails in the cache, the database still answers
            self._went_away(exc)

    async def invalidate(self, namespaces: Collection[str]) -> None:
        """Give each namespace a new version, so that what was cached under the old one is never read."""
        if not namespaces:
            return
        if not await self._usable():
            self._drop_all_on_return = True
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for namespace in namespaces:
                    pipe.set(self._version_key(namespace), _token(), ex=self.ttl * 2)
                await pipe.execute()
        except Exception as exc:  # whatever fails in the cache, the database still answers
            self._went_away(exc)
            self._drop_all_on_return = True

    async def invalidate_all(self) -> None:
        """Make every entry unreachable at once (they expire by themselves)."""
        if not await self._usable():
            self._drop_all_on_return = True
            return
        try:
            await self._drop_all()
        except Exception as exc:  # whatever fails in the cache, the database still answers
            self._went_away(exc)
            self._drop_all_on_return = True

    async def _drop_all(self) -> None:
        await self.redis.set(self._epoch_key, _token())

    async def _usable(self) -> bool:
        if self._away_until:
            if time.monotonic() < self._away_until:
                return False
            self._away_until = 0.0
            logger.warning("Redis answers again: the cache is back in use")
            self._drop_all_on_return = True
        if self._drop_all_on_return:
            try:
                await self._drop_all()
            except Exception as exc:  # whatever fails in the cache, the database still answers
                self._went_away(exc)
                return False
            self._drop_all_on_return = False
        return True

    def _went_away(self, exc: Exception) -> None:
        # One warning per outage, not one per request.
        logger.warning(
            "Redis is unavailable (%s: %s): serving from the database, trying Redis again in %.0f s",
            type(exc).__name__,
            exc,
            self.retry_after,
        )
        self._away_until = time.monotonic() + self.retry_after
