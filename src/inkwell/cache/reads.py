"""What a route needs to answer from the cache: the cache itself, a read session opened only when the cache
misses, and `cached_body`, the read-through step.

The post lists (`posts.router`) cache their first pages; single users and posts are not cached: one
primary-key read costs less than the round trip to Redis (`make bench`).
"""

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.cache.store import Cache
from inkwell.db import read_session

# Only the first pages are cached: deep pages are read rarely, and each would be one more entry to drop.
CACHED_DEPTH = 200

ReadSessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


# Both async although they await nothing: FastAPI runs a plain `def` dependency in its thread pool.
async def get_cache(request: Request) -> Cache | None:
    cache: Cache | None = request.app.state.cache
    return cache


async def get_read_sessions(request: Request) -> ReadSessions:
    """Opens a read session when called, so that a cache hit touches no database connection."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return lambda: read_session(sessionmaker)


CacheDep = Annotated[Cache | None, Depends(get_cache)]
ReadSessionsDep = Annotated[ReadSessions, Depends(get_read_sessions)]


async def cached_body(
    cache: Cache | None, namespace: str, variant: str, load: Callable[[], Awaitable[bytes]]
) -> bytes:
    """The value from the cache, or from `load()` (and then cached). Errors of `load()` are not cached."""
    if cache is None:
        return await load()
    entry = await cache.get(namespace, variant)
    if entry.value is not None:
        return entry.value
    value = await load()
    await cache.put(entry, value)
    return value
