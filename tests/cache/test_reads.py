"""Cached reads on a real Redis: what is cached, and that every write through the API is seen at once."""

from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Executable, delete, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from inkwell.cache.reads import CACHED_DEPTH
from inkwell.cache.store import Cache, create_cache
from inkwell.config import Settings
from inkwell.db import Database, open_database
from inkwell.main import create_app
from inkwell.orm import table_of, utcnow
from inkwell.posts.models import Post
from inkwell.seed import seed
from inkwell.users.models import User
from tests.factories import make_post, make_user


async def behind_the_cache(session: AsyncSession, statement: str, **params: object) -> None:
    """Change the database the way no request does, so that only the cache still has the old value."""
    await session.execute(text(statement), params)
    await session.commit()


async def test_the_first_pages_of_posts_are_served_from_the_cache(
    cached_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await make_post(session, user, title="Before")
    paths = ["/posts", f"/posts?author_id={user.id}", f"/users/{user.id}/posts"]
    first = [await cached_client.get(path) for path in paths]

    await behind_the_cache(session, "UPDATE posts SET title = 'Behind'")
    second = [await cached_client.get(path) for path in paths]

    assert [r.json()[0]["title"] for r in second] == ["Before"] * 3
    assert [r.content for r in first] == [r.content for r in second]


async def test_single_users_and_posts_are_read_from_the_database(
    cached_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, name="Before")
    post = await make_post(session, user, title="Before")
    await cached_client.get(f"/users/{user.id}")
    await cached_client.get(f"/posts/{post.id}")

    await behind_the_cache(session, "UPDATE users SET name = 'Behind'")
    await behind_the_cache(session, "UPDATE posts SET title = 'Behind'")

    assert (await cached_client.get(f"/users/{user.id}")).json()["name"] == "Behind"
    assert (await cached_client.get(f"/posts/{post.id}")).json()["title"] == "Behind"


async def test_a_deleted_user_takes_their_posts_and_their_cached_pages_with_them(
    cached_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    other = await make_user(session)
    post = await make_post(session, user)
    kept = await make_post(session, other)
    paths = ["/posts", f"/users/{user.id}/posts", f"/users/{other.id}/posts"]
    for path in paths:
        assert (await cached_client.get(path)).status_code == 200

    assert (await cached_client.delete(f"/users/{user.id}")).status_code == 204

    after = [await cached_client.get(path) for path in paths]
    assert [response.status_code for response in after] == [200, 404, 200]
    assert [p["id"] for p in after[0].json()] == [kept.id]
    assert (await cached_client.get(f"/posts/{post.id}")).status_code == 404


async def test_post_writes_are_read_back_in_both_lists(
    cached_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    lists = ["/posts", f"/users/{user.id}/posts", f"/posts?author_id={user.id}"]
    for path in lists:
        assert (await cached_client.get(path)).json() == []

    created = (await cached_client.post(f"/users/{user.id}/posts", json={"title": "A", "body": "b"})).json()
    assert [[p["title"] for p in (await cached_client.get(path)).json()] for path in lists] == [["A"]] * 3

    patched = await cached_client.patch(f"/posts/{created['id']}", json={"title": "B"})
    assert (await cached_client.get(f"/posts/{created['id']}")).json() == patched.json()
    assert [[p["title"] for p in (await cached_client.get(path)).json()] for path in lists] == [["B"]] * 3

    assert (await cached_client.delete(f"/posts/{created['id']}")).status_code == 204
    assert (await cached_client.get(f"/posts/{created['id']}")).status_code == 404
    assert [(await cached_client.get(path)).json() for path in lists] == [[]] * 3


async def test_pages_past_the_first_ones_are_not_cached(
    cached_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    session.add_all(Post(author_id=user.id, title="Before", body="b") for _ in range(CACHED_DEPTH + 5))
    await session.commit()
    first, deep = "/posts?limit=50&offset=150", f"/posts?limit=10&offset={CACHED_DEPTH}"
    await cached_client.get(first)
    await cached_client.get(deep)

    await behind_the_cache(session, "UPDATE posts SET title = 'Behind'")

    assert {p["title"] for p in (await cached_client.get(first)).json()} == {"Before"}
    assert {p["title"] for p in (await cached_client.get(deep)).json()} == {"Behind"}


async def test_cached_and_uncached_answers_are_the_same_bytes(
    cached_client: httpx.AsyncClient, open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, name="Zoë 🖋", bio=None)
    await make_post(session, user, title="Ünïcode 🖋", body="line\nbreak")
    await make_post(session, user)
    paths = [
        "/posts",
        "/posts?limit=1",
        f"/posts?limit=1&author_id={user.id}",
        f"/users/{user.id}/posts",
        f"/users/{user.id}/posts?limit=1",
    ]

    for path in paths:
        plain = await open_client.get(path)
        missed = await cached_client.get(path)
        hit = await cached_client.get(path)
        assert plain.content == missed.content == hit.content
        assert hit.headers["content-type"] == plain.headers["content-type"] == "application/json"
        assert hit.headers.get("link") == missed.headers.get("link") == plain.headers.get("link")
    assert "after=" in (await cached_client.get("/posts?limit=1")).headers["link"]


async def test_keyset_pages_are_not_cached(cached_client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    first = await make_post(session, user, title="Before")
    await make_post(session, user, title="Before")
    keyset = f"/users/{user.id}/posts?after={first.id}"
    await cached_client.get(keyset)

    await behind_the_cache(session, "UPDATE posts SET title = 'Behind'")

    assert [p["title"] for p in (await cached_client.get(keyset)).json()] == ["Behind"]


async def test_errors_are_not_cached(cached_client: httpx.AsyncClient, session: AsyncSession) -> None:
    missing = await cached_client.get("/users/999999/posts")
    user = await make_user(session)

    assert missing.status_code == 404
    assert (await cached_client.get(f"/users/{user.id}/posts?limit=0")).status_code == 422
    assert (await cached_client.get("/users/999999/posts")).status_code == 404


async def test_a_read_that_raced_a_write_cannot_store_the_old_value(cache: Cache) -> None:
    entry = await cache.get("posts", "50:0:")  # a reader misses, then loads the old rows ...
    await cache.invalidate({"posts"})  # ... a write commits and invalidates ...
    await cache.put(entry, b"old")  # ... and the reader stores what it loaded

    assert (await cache.get("posts", "50:0:")).value is None
    fresh = await cache.get("posts", "50:0:")
    await cache.put(fresh, b"new")
    assert (await cache.get("posts", "50:0:")).value == b"new"


POSTS = table_of(Post)
USERS = table_of(User)


def _new_post(author_id: int) -> dict[str, object]:
    return {
        "author_id": author_id,
        "title": "Written",
        "body": "b",
        "created_at": utcnow(),
        "updated_at": utcnow(),
    }


# Every shape a write to posts can take, run on a transaction's connection with no word to the cache: the
# one watch on the connection must see each (inkwell.cache.invalidation).
WRITES: dict[str, Callable[[int], Executable]] = {
    "insert": lambda author: insert(POSTS).values(_new_post(author)),
    "insert from select": lambda author: insert(POSTS).from_select(
        ["author_id", "title", "body", "created_at", "updated_at"],
        select(POSTS.c.author_id, literal("Written"), POSTS.c.body, POSTS.c.created_at, POSTS.c.updated_at),
    ),
    "update": lambda _: update(POSTS).values(title="Written"),
    "update of the ORM entity": lambda _: update(Post).values(title="Written"),
    "delete": lambda _: delete(POSTS),
    "delete of users (it cascades)": lambda _: delete(USERS),
    "textual": lambda _: text("UPDATE posts SET title = 'Written'"),
}


@pytest.mark.parametrize("shape", WRITES)
async def test_every_write_to_posts_drops_their_cached_pages(
    cached_client: httpx.AsyncClient,
    connection: AsyncConnection,
    cache: Cache,
    session: AsyncSession,
    shape: str,
) -> None:
    user = await make_user(session)
    await make_post(session, user, title="Before")
    paths = ["/posts", f"/users/{user.id}/posts"]
    cached = [(await cached_client.get(path)).json() for path in paths]

    async with Database(connection, cache=cache).transaction() as tx:
        await tx.connection.execute(WRITES[shape](user.id))

    after = [(await cached_client.get(path)) for path in paths]
    async with Database(connection).reads() as tx:
        titles = list(await tx.connection.scalars(select(POSTS.c.title).order_by(POSTS.c.id.desc())))
    assert [post["title"] for post in after[0].json()] == titles, f"{shape}: {cached} -> {after[0].json()}"
    assert after[1].status_code == 404 or [p["title"] for p in after[1].json()] == titles[::-1]


async def test_many_rows_inserted_at_once_drop_the_cached_pages(
    cached_client: httpx.AsyncClient, connection: AsyncConnection, cache: Cache, session: AsyncSession
) -> None:
    user = await make_user(session)
    await cached_client.get("/posts")

    async with Database(connection, cache=cache).transaction() as tx:
        await tx.connection.execute(insert(POSTS), [_new_post(user.id), _new_post(user.id)])

    assert len((await cached_client.get("/posts")).json()) == 2


async def test_a_rolled_back_write_invalidates_nothing(
    cached_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await make_post(session, user, title="Before")
    await cached_client.get("/posts")
    await behind_the_cache(session, "UPDATE posts SET title = 'Behind'")

    refused = await cached_client.post("/users/999999/posts", json={"title": "t", "body": "b"})

    assert refused.status_code == 404
    assert (await cached_client.get("/posts")).json()[0]["title"] == "Before"


async def test_writes_outside_requests_invalidate_the_cache_too(
    open_settings: Settings,
    engine: AsyncEngine,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    redis_server: str,
    redis_prefix: str,
) -> None:
    redis = {"redis_url": SecretStr(redis_server), "redis_prefix": redis_prefix}
    with_redis = open_settings.model_copy(update=redis)
    cache = create_cache(with_redis)
    assert cache is not None
    app = create_app(with_redis, database=Database(engine, cache=cache))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkwell.test") as client:
        before = await client.get("/posts")
        async with open_database(with_redis) as database:  # as `inkwell seed` does
            await seed(database, user_count=2, posts_per_user=1, batch_size=10, on_batch=lambda _: None)
        after = await client.get("/posts")
    await cache.redis.aclose()

    assert before.json() == []
    assert len(after.json()) == 2
