"""MariaDB's Mroonga table of the posts' texts, where the server has the engine: found at run time and used
for the matches, with the same results, page by page, as the portable path (InnoDB's FULLTEXT index); and,
though Mroonga keeps no transactions, a rolled-back write changes no search.

Each path gets a database of its own: migrated to the head (which builds the table) and to the revision
before it (which does not). Skipped where the server lacks Mroonga (`mariadb-plugin-mroonga`, then
`INSTALL SONAME 'ha_mroonga'`).
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import delete, event, insert, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.orm import table_of
from inkwell.posts import fulltext
from inkwell.posts.cleanup import reconcile_search_texts
from inkwell.posts.fulltext import has_mroonga_table, reconcile_texts
from inkwell.posts.models import Post
from inkwell.users.models import User
from tests.databases import Backend, migrate, statements_run
from tests.posts.lovage import LOVAGE
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

pytestmark = pytest.mark.backends("mariadb")

# The revision before the Mroonga table's.
WITHOUT_MROONGA = "0013"
POSTS = table_of(Post)
USERS = table_of(User)


async def mroonga_offered(backend: Backend) -> bool:
    engine = create_engine(Settings(database_url=backend.server_url or ""))
    try:
        async with engine.connect() as conn:
            query = text("SELECT SUPPORT FROM information_schema.ENGINES WHERE ENGINE = 'Mroonga'")
            return (await conn.execute(query)).scalar() in ("YES", "DEFAULT")
    finally:
        await engine.dispose()


# The search's own choice, which the fixture below replaces.
MROONGA_PAYS = fulltext._mroonga_pays


@pytest.fixture(autouse=True)
def mroonga_for_every_word(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mroonga asked for every query, where a search takes InnoDB's index for the rare words that it
    holds (test_search_window.py tests that choice)."""
    monkeypatch.setattr(fulltext, "_mroonga_pays", lambda *_: True)


@pytest.fixture
async def paths(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """The same posts with the Mroonga table (OPTIONAL) and without it (PORTABLE)."""
    if not await mroonga_offered(backend):
        pytest.skip("the MariaDB server lacks the Mroonga engine (mariadb-plugin-mroonga)")
    async with two_paths(backend, tmp_path_factory, before=WITHOUT_MROONGA) as found:
        yield found


async def add_post(conn: AsyncConnection, title: str, body: str) -> None:
    """A post by the author of the others, written with SQL alone."""
    values = select(literal(title), literal(body), POSTS.c.author_id, POSTS.c.created_at, POSTS.c.updated_at)
    columns = ["title", "body", "author_id", "created_at", "updated_at"]
    await conn.execute(insert(POSTS).from_select(columns, values.limit(1)))


async def texts(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT COUNT(*) FROM posts_search"))).scalar_one())


async def age_the_texts(engine: AsyncEngine) -> None:
    """As if every text had been written more than the grace period ago."""
    seconds = fulltext.TEXT_GRACE_SECONDS + 60
    async with engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE posts_search SET written_at = written_at - INTERVAL {seconds} SECOND")
        )


async def reconcile(engine: AsyncEngine) -> int:
    """The app's background purge, once."""
    return await reconcile_search_texts(Database(engine))


async def test_the_table_is_found_where_the_migration_built_it(paths: dict[str, Any]) -> None:
    run = await statements_of_a_search(paths, has_mroonga_table)

    assert any("posts_search" in statement for statement in run[OPTIONAL])
    assert not any("posts_search" in statement for statement in run[PORTABLE])
    assert not any("information_schema" in statement for statement in run[OPTIONAL])  # asked once


async def test_a_rolled_back_write_changes_no_search(paths: dict[str, Any]) -> None:
    engine = paths[OPTIONAL]
    before = await search(engine, "lovage", window=3)

    # An edit that takes the word away, one that adds it, a new post that holds it.
    async with engine.connect() as conn, conn.begin() as tx:
        await conn.execute(update(POSTS).where(POSTS.c.title == "Tea").values(body="Mint only."))
        await conn.execute(update(POSTS).where(POSTS.c.title == "Parsley 0").values(body="Lovage!"))
        await add_post(conn, "Lovage again", "lovage")
        await tx.rollback()

    assert await search(engine, "lovage", window=3) == before
    assert await search(engine, "mint", window=3) == []


async def test_committed_edits_and_deletions_are_searched_at_once(paths: dict[str, Any]) -> None:
    engine = paths[OPTIONAL]
    async with engine.begin() as conn:
        await conn.execute(update(POSTS).where(POSTS.c.title == "Tea").values(body="Mint only."))
        await conn.execute(delete(POSTS).where(POSTS.c.title == "Soup"))

    found = await search(engine, "lovage", window=3)
    assert "Tea" not in found
    assert "Soup" not in found
    assert await search(engine, "mint", window=3) == ["Tea"]

    async with engine.begin() as conn:  # the database deletes the user's posts: no trigger sees it
        await conn.execute(delete(USERS).where(USERS.c.id == paths["author"].id))
    assert await search(engine, "lovage", window=3) == []


async def test_texts_no_post_holds_do_not_shrink_the_window(paths: dict[str, Any]) -> None:
    # Edits of the newest match leave its older texts, which match too, among the newest texts.
    async with paths[OPTIONAL].begin() as conn, paths[PORTABLE].begin() as other:
        for number in range(6):
            for each in (conn, other):
                edit = update(POSTS).where(POSTS.c.title == "Tea").values(body=f"Lovage, take {number}.")
                await each.execute(edit)

    for window in (1, 2, 3):
        assert await search(paths[OPTIONAL], "lovage", window=window) == await search(
            paths[PORTABLE], "lovage", window=window
        )


async def test_the_purge_removes_what_no_post_holds_and_restores_what_is_missing(
    paths: dict[str, Any],
) -> None:
    engine = paths[OPTIONAL]
    posts_written = 2 * len(LOVAGE)
    async with engine.begin() as conn:
        await conn.execute(update(POSTS).where(POSTS.c.title == "Tea").values(body="Mint only."))
        await conn.execute(delete(POSTS).where(POSTS.c.title == "Soup"))
    async with engine.connect() as conn, conn.begin() as tx:
        await conn.execute(update(POSTS).where(POSTS.c.title == "Bread").values(body="Rye."))
        await tx.rollback()
    assert await texts(engine) == posts_written + 2  # Tea's new text, Bread's rolled-back one

    assert await reconcile(engine) == 0  # not yet: a transaction could still commit them
    await age_the_texts(engine)
    assert await reconcile(engine) == 3  # Tea's old text, Soup's, Bread's rolled back one
    assert await texts(engine) == posts_written - 1

    async with engine.begin() as conn:  # a text lost (say, a server that crashed before writing it)
        await conn.execute(text("DELETE FROM posts_search WHERE title = 'Stock'"))
    assert "Stock" not in await search(engine, "lovage", window=100)
    assert await reconcile(engine) == 1
    assert "Stock" in await search(engine, "lovage", window=100)


async def test_the_migration_goes_down_and_up_again(paths: dict[str, Any]) -> None:
    engine = paths[OPTIONAL]
    await migrate(engine, WITHOUT_MROONGA, down=True)
    async with engine.connect() as conn:
        tables = await conn.execute(text("SHOW TABLES LIKE 'posts_search'"))
        triggers = await conn.execute(text("SHOW TRIGGERS LIKE 'posts'"))
        assert (tables.all(), triggers.all()) == ([], [])

    await migrate(engine)
    assert await texts(engine) == 2 * len(LOVAGE)  # the posts' texts, written again


async def test_the_purge_locks_no_post_against_writers(paths: dict[str, Any]) -> None:
    engine = paths[OPTIONAL]
    await age_the_texts(engine)
    async with engine.connect() as purging, purging.begin():
        await reconcile_texts(purging)  # its transaction still open
        async with engine.connect() as writer, writer.begin():
            await writer.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
            edited = update(POSTS).where(POSTS.c.title == "Tea").values(body="Lovage, again.")
            assert (await writer.execute(edited)).rowcount == 1


async def test_a_server_that_cuts_the_window_short_still_gets_every_match(paths: dict[str, Any]) -> None:
    # The newest matches come back joined in one string, which group_concat_max_len may cut short.
    engine = create_engine(Settings(database_url=paths[OPTIONAL].url.render_as_string(hide_password=False)))

    @event.listens_for(engine.sync_engine, "connect")
    def short_strings(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET SESSION group_concat_max_len = 8")

    try:
        for window in (3, 100):
            assert await search(engine, "lovage", window=window) == await search(
                paths[PORTABLE], "lovage", window=window
            )
    finally:
        await engine.dispose()


async def test_mroonga_is_asked_for_words_too_common_for_innodbs_index_and_innodb_for_rarer_ones(
    paths: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fulltext, "_mroonga_pays", MROONGA_PAYS)
    for path in (OPTIONAL, PORTABLE):
        async with paths[path].begin() as conn:  # 30 posts, the newest 14 holding `borage`
            for _ in range(30 - 2 * len(LOVAGE)):
                await add_post(conn, "Borage", "Borage.")

    # scan_rows 50: the newest 2 posts tell. `borage` is expected in 30, more than InnoDB's index is asked
    # for (5) and fewer than Mroonga's (50); `potatoes` in none of them.
    found, run = {}, {}
    for path in (OPTIONAL, PORTABLE):
        for q in ("borage", "potatoes"):
            with statements_run(paths[path]) as run[path, q]:
                found[path, q] = await search(paths[path], q, window=3, scan_rows=50)

    def asked(path: str, q: str, what: str) -> bool:
        return any(what in statement for statement in run[path, q])

    assert asked(OPTIONAL, "borage", "posts_search")
    assert not asked(PORTABLE, "borage", "MATCH")  # read from the newest posts
    assert asked(OPTIONAL, "potatoes", "MATCH")
    assert not asked(OPTIONAL, "potatoes", "posts_search")  # InnoDB's index
    assert found[OPTIONAL, "borage"] == found[PORTABLE, "borage"] == ["Borage"] * (30 - 2 * len(LOVAGE))
    assert found[OPTIONAL, "potatoes"] == found[PORTABLE, "potatoes"] == ["Lovage soup"]
