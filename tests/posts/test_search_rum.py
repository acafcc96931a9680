"""PostgreSQL's RUM index, where the server offers the extension: found at run time and used for the newest
matches, with the same results, page by page, as the portable path (the GIN index alone).

Each path gets a database of its own: migrated to the head (which builds the RUM index) and to the revision
before it (which does not). Skipped where the server does not offer RUM (`postgresql-15-rum`).
"""

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from starlette.datastructures import URL

from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.pagination import Page
from inkwell.posts import service as posts
from inkwell.posts.fulltext import has_rum_index
from inkwell.posts.search import Search, parse_query
from inkwell.users.models import UserRecord
from tests.databases import Backend, create_database, drop_database, migrate, statements_run
from tests.factories import make_post, make_user
from tests.posts.lovage import LOVAGE

pytestmark = pytest.mark.backends("postgresql")

# The revision before the RUM index's.
WITHOUT_RUM = "0012"


async def rum_offered(backend: Backend) -> bool:
    engine = create_engine(Settings(database_url=backend.server_url or ""))
    try:
        async with engine.connect() as conn:
            query = text("SELECT 1 FROM pg_available_extensions WHERE name = 'rum'")
            return (await conn.execute(query)).scalar() is not None
    finally:
        await engine.dispose()


@pytest.fixture
async def paths(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """{"rum": engine, "gin": engine}: the same posts in two databases, with and without the RUM index; and
    "author", their author (the same id in both)."""
    if not await rum_offered(backend):
        pytest.skip("the PostgreSQL server does not offer the RUM extension (postgresql-15-rum)")
    engines: dict[str, AsyncEngine] = {}
    names = {path: f"inkwell_search_{path}_{os.getpid()}" for path in ("rum", "gin")}
    try:
        for path, name in names.items():
            url = await create_database(backend, name, str(tmp_path_factory.mktemp(path)))
            engines[path] = create_engine(Settings(database_url=url))
            await migrate(engines[path], "head" if path == "rum" else WITHOUT_RUM)
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
    engine: AsyncEngine, q: str, *, window: int, offset: int = 0, limit: int = 100, **filters: Any
) -> list[str]:
    async with Database(engine).reads() as tx:
        page = Page(limit=limit, offset=offset, after=None, url=URL("/posts"), max_offset=10_000)
        found = await posts.list_posts(
            tx, page=page, search=Search(parse_query(q), window=window, scan_rows=50_000), **filters
        )
    return [post.title for post in found][:limit]


async def test_the_index_is_found_where_the_migration_built_it(paths: dict[str, Any]) -> None:
    async with paths["rum"].connect() as conn:
        assert await has_rum_index(conn)
    async with paths["gin"].connect() as conn:
        assert not await has_rum_index(conn)

    with statements_run(paths["rum"]) as rum, statements_run(paths["gin"]) as gin:
        await search(paths["rum"], "lovage", window=3)
        await search(paths["gin"], "lovage", window=3)

    assert any("<=|" in statement for statement in rum)  # the window is read from the RUM index
    assert not any("<=|" in statement for statement in gin)
    assert not any("to_regclass" in statement for statement in rum)  # asked once per engine, not again


@pytest.mark.parametrize("q", ["lovage", "lovage -honey", '"lovage soup"', "lovage OR parsley", "soup"])
async def test_with_no_more_matches_than_the_window_both_rank_every_match(
    paths: dict[str, Any], q: str
) -> None:
    for window in (16, 17, 1_000, 1_000_000):  # at most 16 matches
        rum = await search(paths["rum"], q, window=window)
        gin = await search(paths["gin"], q, window=window)
        assert rum == gin == await search(paths["gin"], q, window=1_000_000), (q, window)

    if q == "lovage":
        assert sorted(rum[:2]) == ["Lovage", "Lovage soup"]  # the title hits, the old one included
        assert sorted(rum) == sorted(title for title, _ in LOVAGE)


@pytest.mark.parametrize("window", [1, 2, 3, 5])
async def test_the_newest_matches_ranked_then_the_older_newest_first_on_both(
    paths: dict[str, Any], window: int
) -> None:
    newest_first = [title for title, _ in reversed(LOVAGE)]
    every = await search(paths["rum"], "lovage", window=window)

    assert every == await search(paths["gin"], "lovage", window=window)
    assert sorted(every[:window]) == sorted(newest_first[:window])
    assert every[window:] == newest_first[window:]
    for offset in range(len(every) + 1):  # pages across the window's edge neither skip nor repeat
        for path in ("rum", "gin"):
            page = await search(paths[path], "lovage", window=window, offset=offset, limit=2)
            assert page == every[offset : offset + 2], (path, offset)


async def test_the_author_filter_on_both(paths: dict[str, Any]) -> None:
    author = paths["author"].id

    for path in ("rum", "gin"):
        assert await search(paths[path], "lovage", window=3, author_id=author) == await search(
            paths[path], "lovage", window=3
        )
        assert await search(paths[path], "lovage", window=3, author_id=author + 1) == []


async def test_the_migration_goes_down_and_up_again(paths: dict[str, Any]) -> None:
    engine = paths["rum"]
    await migrate(engine, WITHOUT_RUM, down=True)
    async with engine.connect() as conn:
        index = await conn.execute(text("SELECT to_regclass('ix_posts_search_rum')"))
        extension = await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'rum'"))
        assert (index.scalar(), extension.scalar()) == (None, None)

    await migrate(engine)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT to_regclass('ix_posts_search_rum')"))).scalar() is not None
