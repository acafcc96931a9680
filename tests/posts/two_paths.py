"""The same posts in two databases, one migrated to the head (which builds a server's optional search index:
RUM on PostgreSQL, the Mroonga table on MariaDB) and one to the revision before it (the portable path); and
the tests that both give the same pages, which the modules of each index import (each defines the `paths`
fixture, from `two_paths`)."""

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker
from starlette.datastructures import URL

from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.pagination import Page
from inkwell.posts import service as posts
from inkwell.posts.search import Search, parse_query
from inkwell.users.models import UserRecord
from tests.databases import Backend, create_database, drop_database, migrate, statements_run
from tests.factories import make_post, make_user
from tests.posts.lovage import LOVAGE

OPTIONAL, PORTABLE = "optional", "portable"
# With no more matches than a window of 16: LOVAGE's, or fewer. `a` is one of InnoDB's stop words, and `.`
# joins `lovage.tea` into a phrase.
QUERIES = [
    "lovage",
    "lovage -honey",
    '"lovage soup"',
    "lovage OR parsley",
    "soup",
    "a little lovage",
    "lovage.tea",
]


@asynccontextmanager
async def two_paths(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory, *, before: str
) -> AsyncIterator[dict[str, Any]]:
    """{OPTIONAL: engine, PORTABLE: engine, "author": their author (the same id in both)}: the posts of
    LOVAGE in a database at the head and in one at revision `before`."""
    engines: dict[str, AsyncEngine] = {}
    names = {path: f"inkwell_search_{path}_{os.getpid()}" for path in (OPTIONAL, PORTABLE)}
    try:
        for path, name in names.items():
            url = await create_database(backend, name, str(tmp_path_factory.mktemp(path)))
            engines[path] = create_engine(Settings(database_url=url))
            await migrate(engines[path], "head" if path == OPTIONAL else before)
            author = await write_posts(engines[path])
        yield {**engines, "author": author}
    finally:
        for path, engine in engines.items():
            await engine.dispose()
            await drop_database(backend, names[path])


async def write_posts(engine: AsyncEngine) -> UserRecord:
    """The posts of LOVAGE, oldest first, with one that does not match before each."""
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        author = await make_user(session)
        for number, (title, body) in enumerate(LOVAGE):
            await make_post(session, author, title=f"Parsley {number}", body="Nothing of the kind.")
            await make_post(session, author, title=title, body=body)
        await session.commit()
    return author


async def search(
    engine: AsyncEngine,
    q: str,
    *,
    window: int,
    offset: int = 0,
    limit: int = 100,
    scan_rows: int = 50_000,
    **filters: Any,
) -> list[str]:
    """The titles found by the posts service."""
    async with Database(engine).reads() as tx:
        page = Page(limit=limit, offset=offset, after=None, url=URL("/posts"), max_offset=10_000)
        found = await posts.list_posts(
            tx, page=page, search=Search(parse_query(q), window=window, scan_rows=scan_rows), **filters
        )
    return [post.title for post in found][:limit]


async def statements_of_a_search(
    paths: dict[str, Any], has_index: Callable[[AsyncConnection], Awaitable[bool]]
) -> dict[str, list[str]]:
    """The statements a search runs on each database, once `has_index` finds the index on the head's
    database alone."""
    run: dict[str, list[str]] = {}
    for path in (OPTIONAL, PORTABLE):
        async with paths[path].connect() as conn:
            assert await has_index(conn) == (path == OPTIONAL)
        with statements_run(paths[path]) as run[path]:
            await search(paths[path], "lovage", window=3)
    return run


@pytest.mark.parametrize("q", QUERIES)
async def test_with_no_more_matches_than_the_window_both_rank_every_match(
    paths: dict[str, Any], q: str
) -> None:
    for window in (16, 17, 1_000, 1_000_000):  # at most 16 matches
        optional = await search(paths[OPTIONAL], q, window=window)
        portable = await search(paths[PORTABLE], q, window=window)
        assert optional == portable == await search(paths[PORTABLE], q, window=1_000_000), (q, window)

    if q == "lovage":
        assert sorted(optional[:2]) == ["Lovage", "Lovage soup"]  # the title hits, the old one included
        assert sorted(optional) == sorted(title for title, _ in LOVAGE)


@pytest.mark.parametrize("window", [1, 2, 3, 5])
async def test_the_newest_matches_ranked_then_the_older_newest_first_on_both(
    paths: dict[str, Any], window: int
) -> None:
    newest_first = [title for title, _ in reversed(LOVAGE)]
    every = await search(paths[OPTIONAL], "lovage", window=window)

    assert every == await search(paths[PORTABLE], "lovage", window=window)
    assert sorted(every[:window]) == sorted(newest_first[:window])
    assert every[window:] == newest_first[window:]
    for offset in range(len(every) + 1):  # pages across the window's edge neither skip nor repeat
        for path in (OPTIONAL, PORTABLE):
            page = await search(paths[path], "lovage", window=window, offset=offset, limit=2)
            assert page == every[offset : offset + 2], (path, offset)


async def test_the_author_filter_on_both(paths: dict[str, Any]) -> None:
    author = paths["author"].id

    for path in (OPTIONAL, PORTABLE):
        assert await search(paths[path], "lovage", window=3, author_id=author) == await search(
            paths[path], "lovage", window=3
        )
        assert await search(paths[path], "lovage", window=3, author_id=author + 1) == []
