"""The benchmark's seed data, and seeding real databases."""

import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.datastructures import URL

from bench import seed
from bench.seed import HOT_AUTHORS, HOT_POSTS, Size
from inkwell.db import Database, async_url
from inkwell.pagination import Page
from inkwell.posts import service as posts_service
from inkwell.posts.search import Search, parse_query
from tests.databases import Backend

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("users", "posts"), [(1_000, 2_000), (10_000, 50_000), (200_000, 200_000)])
def test_hot_authors_have_the_same_number_of_posts_at_every_size(users: int, posts: int) -> None:
    authors = Counter(seed.author_ids(posts, users))

    assert sum(authors.values()) == posts
    assert [authors[a] for a in range(1, HOT_AUTHORS + 1)] == [HOT_POSTS] * HOT_AUTHORS
    assert min(authors) >= 1
    assert max(authors) <= users


def test_hot_posts_are_spread_through_the_table() -> None:
    authors = list(seed.author_ids(50_000, 10_000))
    hot_positions = [i for i, author in enumerate(authors) if author <= HOT_AUTHORS]

    assert hot_positions[0] < 100
    assert hot_positions[-1] > 40_000


def test_users_have_unique_emails() -> None:
    rows = list(seed.user_rows(500, now=NOW))

    assert len({row[0] for row in rows}) == 500


@pytest.mark.parametrize(("users", "posts"), [(HOT_AUTHORS, 5_000), (1_000, HOT_AUTHORS * HOT_POSTS - 1)])
def test_sizes_too_small_for_the_scenarios_are_refused(users: int, posts: int) -> None:
    with pytest.raises(ValueError, match="needs"):
        Size(users, posts)


@pytest.mark.slow
async def test_seeding_fills_a_migrated_database_and_its_search_index(
    backend: Backend, tmp_path: Path
) -> None:
    size = Size(users=300, posts=2_500)
    name = f"inkwell_seed_{os.getpid()}"
    if backend.server_url is None:
        url = seed.sqlite_url(tmp_path / "seed.db")
        seed.migrate(url)
        seed.seed_sqlite(url, size)
    elif backend.name == "postgresql":
        url = await seed.create_postgresql_database(backend.server_url, name)
        seed.migrate(url)
        await seed.seed_postgresql(url, size)
    else:
        url = seed.create_mariadb_database(backend.server_url, name)
        seed.migrate(url)
        seed.seed_mariadb(url, size)
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            users = await conn.scalar(text("SELECT count(*) FROM users"))
            posts = await conn.scalar(text("SELECT count(*) FROM posts"))
            hot = await conn.scalar(
                select(func.count()).select_from(text("posts")).where(text("author_id = 1"))
            )
        async with Database(engine).reads() as tx:
            page = Page(limit=100, offset=0, after=None, url=URL("/posts"), max_offset=0)
            topic = await posts_service.list_posts(tx, page=page, search=searching("topic7"))
            both = await posts_service.list_posts(tx, page=page, search=searching("topic7 group7"))
    finally:
        await engine.dispose()
        if backend.name == "postgresql":
            await seed.drop_postgresql_database(backend.server_url or "", name)
        elif backend.name == "mariadb":
            seed.drop_mariadb_database(backend.server_url or "", name)

    assert (users, posts, hot) == (300, 2_500, HOT_POSTS)
    # Posts 7, 1007 and 2007: a topic is in 0.1% of the posts, and all of them are in its group.
    assert sorted(post.title for post in topic) == ["Seeded post 1007", "Seeded post 2007", "Seeded post 7"]
    assert len(both) == 3


def test_asyncpg_gets_a_plain_dsn() -> None:
    assert seed.asyncpg_dsn("postgresql+asyncpg://u:p@h:5/db") == "postgresql://u:p@h:5/db"
    assert seed.database_url_for("postgresql://u@h/postgres", "x") == "postgresql://u@h/x"


def searching(q: str) -> Search:
    return Search(parse_query(q), window=1_000, scan_rows=50_000)
