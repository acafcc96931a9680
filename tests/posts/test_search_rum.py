"""PostgreSQL's RUM index, where the server offers the extension: found at run time and used for the newest
matches, with the same results, page by page, as the portable path (the GIN index alone).

Each path gets a database of its own: migrated to the head (which builds the RUM index) and to the revision
before it (which does not). Skipped where the server does not offer RUM (`postgresql-15-rum`).
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from inkwell.config import Settings
from inkwell.db import create_engine
from inkwell.posts.fulltext import has_rum_index
from tests.databases import Backend, migrate
from tests.posts.two_paths import (  # noqa: F401 (the tests of both paths, collected here on this `paths`)
    OPTIONAL,
    PORTABLE,
    search,
    statements_of_a_search,
    test_the_author_filter_on_both,
    test_the_newest_matches_ranked_then_the_older_newest_first_on_both,
    test_with_no_more_matches_than_the_window_both_rank_every_match,
    two_paths,
)

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
    """The same posts with the RUM index (OPTIONAL) and without it (PORTABLE)."""
    if not await rum_offered(backend):
        pytest.skip("the PostgreSQL server does not offer the RUM extension (postgresql-15-rum)")
    async with two_paths(backend, tmp_path_factory, before=WITHOUT_RUM) as found:
        yield found


async def test_the_index_is_found_where_the_migration_built_it(paths: dict[str, Any]) -> None:
    run = await statements_of_a_search(paths, has_rum_index)

    assert any("<=|" in statement for statement in run[OPTIONAL])  # the window is read from the RUM index
    assert not any("<=|" in statement for statement in run[PORTABLE])
    assert not any("to_regclass" in statement for statement in run[OPTIONAL])  # asked once per engine


async def test_the_migration_goes_down_and_up_again(paths: dict[str, Any]) -> None:
    engine = paths[OPTIONAL]
    await migrate(engine, WITHOUT_RUM, down=True)
    async with engine.connect() as conn:
        index = await conn.execute(text("SELECT to_regclass('ix_posts_search_rum')"))
        extension = await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'rum'"))
        assert (index.scalar(), extension.scalar()) == (None, None)

    await migrate(engine)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT to_regclass('ix_posts_search_rum')"))).scalar() is not None
