"""An app whose reads go through a real Redis cache, in the test's rolled-back transaction."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection

from inkwell.cache.store import Cache
from inkwell.config import Settings
from inkwell.db import Database
from inkwell.main import create_app


def cache_on(url: str, prefix: str, *, retry_after: float = 5.0) -> Cache:
    redis = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    return Cache(redis, prefix=prefix, ttl=60, retry_after=retry_after)


def app_with_cache(settings: Settings, connection: AsyncConnection, cache: Cache) -> FastAPI:
    return create_app(settings, database=Database(connection, cache=cache))


@pytest.fixture
async def cache(redis_server: str, redis_prefix: str) -> AsyncIterator[Cache]:
    cache = cache_on(redis_server, redis_prefix)
    yield cache
    await cache.redis.aclose()


@pytest.fixture
async def cached_client(
    open_settings: Settings, connection: AsyncConnection, cache: Cache
) -> AsyncIterator[httpx.AsyncClient]:
    app = app_with_cache(open_settings, connection, cache)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://inkwell.test"
    ) as client:
        yield client
