"""The app on a test's database, and clients that call it in-process (through ASGI, no network)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inkwell.cache.store import Cache
from inkwell.config import Settings
from inkwell.db import Database
from inkwell.main import create_app

BASE_URL = "http://inkwell.test"


def app_on(settings: Settings, database: Database) -> FastAPI:
    """The app with `settings`, whose requests use `database` (the test's rolled-back transaction, or
    the real engine)."""
    return create_app(settings, database=database)


def asgi_client(app: FastAPI, *, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client for `app`, its requests coming from `address`; use it in `async with`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


@asynccontextmanager
async def app_counting_in(
    request: pytest.FixtureRequest, settings: Settings, bind: AsyncEngine | AsyncConnection
) -> AsyncIterator[FastAPI]:
    """The app on `bind`, counting attempts (passwords, mails) where the fixture's parameter says: in the
    "database", or in "redis"."""
    if request.param == "database":
        yield app_on(settings, Database(bind))
        return
    url, prefix = request.getfixturevalue("redis_server"), request.getfixturevalue("redis_prefix")
    redis = Redis.from_url(url)
    cache = Cache(redis, prefix=prefix, ttl=60)
    yield app_on(settings.model_copy(update={"redis_prefix": prefix}), Database(bind, cache=cache))
    # The attempts were counted in Redis, not in the database behind it.
    assert [key async for key in redis.scan_iter(match=f"{prefix}:throttle:*")]
    await redis.aclose()
