"""The cached reads: the first pages of GET /posts and of a user's posts.

Each dependency answers the whole response, from Redis when it holds it, else from the database (and then
stores it). Without Redis it is the plain database read, serialized once by pydantic. Single users and
posts are not cached: one primary-key read costs less than the round trip to Redis (`make bench`).
"""

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from fastapi import Depends, Query, Request, Response
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.cache.invalidation import POSTS, user_posts_key
from inkwell.cache.store import Cache
from inkwell.db import read_session
from inkwell.fields import MAX_ID
from inkwell.pagination import Page, PageDep, next_page_link
from inkwell.posts import service as posts
from inkwell.posts.models import Post
from inkwell.posts.schemas import PostRead

# Only the first pages are cached: deep pages are read rarely, and each would be one more entry to drop.
CACHED_DEPTH = 200

_POST_LIST = TypeAdapter(list[PostRead])


def get_cache(request: Request) -> Cache | None:
    cache: Cache | None = request.app.state.cache
    return cache


CacheDep = Annotated[Cache | None, Depends(get_cache)]


def reading(request: Request) -> AbstractAsyncContextManager[AsyncSession]:
    """A read session, opened only when the cache misses: a hit touches no database connection."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return read_session(sessionmaker)


def json_response(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


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


def _posts_json(found: Sequence[Post]) -> bytes:
    return _POST_LIST.dump_json(_POST_LIST.validate_python(found, from_attributes=True))


async def _page_response(
    cache: Cache | None,
    namespace: str,
    page: Page,
    load_rows: Callable[[], Awaitable[Sequence[Post]]],
    *,
    author_id: int | None = None,
) -> Response:
    """A page of posts with its `Link` to the next one. Only first pages are cached: not keyset ones
    (`after=`), nor pages deeper than CACHED_DEPTH."""

    async def load() -> bytes:
        # Rows come one longer than the page when more follow; the entry keeps the next cursor.
        rows = await load_rows()
        items = rows[: page.limit]
        following = str(items[-1].id).encode() if len(rows) > page.limit else b""
        return following + b"\n" + _posts_json(items)

    first_pages = page.after is None and page.offset + page.limit <= CACHED_DEPTH
    variant = f"{page.limit}:{page.offset}:{author_id or ''}"
    following, body = (await cached_body(cache if first_pages else None, namespace, variant, load)).split(
        b"\n", 1
    )
    response = json_response(body)
    if following:
        response.headers["Link"] = next_page_link(page, int(following))
    return response


async def posts_page_response(
    request: Request,
    cache: CacheDep,
    page: PageDep,
    author_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this author's posts.")] = None,
) -> Response:
    async def load_rows() -> Sequence[Post]:
        async with reading(request) as session:
            return await posts.list_posts(session, page=page, author_id=author_id)

    return await _page_response(cache, POSTS, page, load_rows, author_id=author_id)


async def user_posts_page_response(
    user_id: int, request: Request, cache: CacheDep, page: PageDep
) -> Response:
    async def load_rows() -> Sequence[Post]:
        async with reading(request) as session:
            return await posts.list_user_posts(session, author_id=user_id, page=page)

    return await _page_response(cache, user_posts_key(user_id), page, load_rows)


CachedPostsPage = Annotated[Response, Depends(posts_page_response)]
CachedUserPostsPage = Annotated[Response, Depends(user_posts_page_response)]
