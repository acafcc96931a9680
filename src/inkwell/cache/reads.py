"""`cached_body`, the read-through step of what a route answers from the cache.

The post lists (`posts.router`) cache their first pages, and open their read transaction only when the
cache misses; single users and posts are not cached: one primary-key read costs less than the round
trip to Redis (`make bench`).
"""

from collections.abc import Awaitable, Callable

from inkwell.cache.store import Cache

# Only the first pages are cached: deep pages are read rarely, and each would be one more entry to drop.
CACHED_DEPTH = 200


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
