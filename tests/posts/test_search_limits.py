"""What keeps search affordable for the server: a limit on searches per client address, and search
results cached with the lists (and dropped by the same writes)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inkwell.cache.store import Cache
from inkwell.config import Settings
from inkwell.db import Database
from tests.apps import app_on, asgi_client
from tests.cache.conftest import cache_on


async def test_searches_are_limited_per_client_address(settings: Settings, database: Database) -> None:
    app = app_on(settings.model_copy(update={"search_limit_per_address": 3}), database)

    async with (
        asgi_client(app, address="192.0.2.7") as client,
        asgi_client(app, address="192.0.2.8") as other,
    ):
        answers = [await client.get("/posts", params={"q": f"fennel {n}"}) for n in range(4)]
        refused = answers[-1]
        assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
        assert 0 < int(refused.headers["Retry-After"]) <= settings.search_window
        assert refused.json()["detail"] == "Too many searches from this address; try again later"
        assert (await client.get("/users/1/posts", params={"q": "fennel"})).status_code == 429
        # The lists without `q` are not searches; another address has its own count.
        assert (await client.get("/posts")).status_code == 200
        assert (await other.get("/posts", params={"q": "fennel"})).status_code == 200


async def test_the_search_limit_is_higher_than_the_sign_in_limits() -> None:
    defaults = Settings()

    per_minute = defaults.search_limit_per_address * 60 / defaults.search_window
    assert per_minute > defaults.login_max_failures_per_address * 60 / defaults.login_failure_window
    assert defaults.search_limit_per_address > defaults.login_max_failures_per_address


@pytest.fixture
async def cache(redis_server: str, redis_prefix: str) -> AsyncIterator[Cache]:
    cache = cache_on(redis_server, redis_prefix)
    yield cache
    await cache.redis.aclose()


async def test_a_search_is_cached_until_a_new_post_is_written(
    open_settings: Settings,
    engine: AsyncEngine,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    cache: Cache,
) -> None:
    app = app_on(open_settings, Database(engine, cache=cache))
    async with asgi_client(app) as client:
        author = (await client.post("/users", json={"email": "ada@example.com", "name": "Ada"})).json()
        await client.post(f"/users/{author['id']}/posts", json={"title": "Angelica", "body": "Candied."})
        assert await titles(client, "angelica") == ["Angelica"]

        # Changed behind the cache's back: the search is still answered from the cache.
        async with committed_sessionmaker() as session:
            await session.execute(text("UPDATE posts SET title = 'Angelica, changed'"))
            await session.commit()
        assert await titles(client, "angelica") == ["Angelica"]
        assert await titles(client, "ANGELICA") == ["Angelica"]  # the same query, spelt otherwise
        assert await titles(client, "angelica", f"/users/{author['id']}/posts") == ["Angelica, changed"]

        # A new post drops every cached page of the posts, searches included.
        created = await client.post(
            f"/users/{author['id']}/posts", json={"title": "More angelica", "body": "Fresh."}
        )
        assert created.status_code == 201
        assert sorted(await titles(client, "angelica")) == ["Angelica, changed", "More angelica"]


async def titles(client: httpx.AsyncClient, q: str, path: str = "/posts") -> list[str]:
    response = await client.get(path, params={"q": q})
    assert response.status_code == 200, response.text
    return [post["title"] for post in response.json()]
