"""The bounded ranking of search results: only the newest `INKWELL_SEARCH_RANK_WINDOW` matches are ranked,
older matches follow them newest first; and MariaDB's bounded scan of the newest posts for common words.

The posts are committed for real: MariaDB's FULLTEXT index sees a write only once its transaction commits.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.posts import fulltext
from inkwell.users.models import User
from tests.apps import app_on, asgi_client
from tests.databases import statements_run
from tests.factories import make_post, make_user
from tests.posts.lovage import LOVAGE


@pytest.fixture
async def lovage(committed_sessionmaker: async_sessionmaker[AsyncSession], author: User) -> list[str]:
    """The LOVAGE posts and a few that do not match, committed; the matches' titles, newest first."""
    async with committed_sessionmaker() as session:
        for number, (title, body) in enumerate(LOVAGE):
            await make_post(session, author, title=f"Parsley {number}", body="Nothing of the kind.")
            await make_post(session, author, title=title, body=body)
    return [title for title, _ in reversed(LOVAGE)]


@asynccontextmanager
async def client_with(
    settings: Settings, database: Database, **changes: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app_on(settings.model_copy(update=changes), database)) as client:
        yield client


async def titles(client: httpx.AsyncClient, q: str, path: str = "/posts", **params: Any) -> list[str]:
    response = await client.get(path, params={"q": q, "limit": 100, **params})
    assert response.status_code == 200, response.text
    return [post["title"] for post in response.json()]


async def paged_titles(client: httpx.AsyncClient, q: str, limit: int) -> list[str]:
    """Every page of `q`'s results, following the `Link` header."""
    found: list[str] = []
    url: str | None = f"/posts?q={q}&limit={limit}"
    while url:
        response = await client.get(url)
        found += [post["title"] for post in response.json()]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
    return found


async def test_with_no_more_matches_than_the_window_every_match_is_ranked(
    settings: Settings, committed_database: Database, lovage: list[str]
) -> None:
    rankings = []
    for window in (len(LOVAGE), len(LOVAGE) + 1, 1_000, 1_000_000):
        async with client_with(settings, committed_database, search_rank_window=window) as client:
            rankings.append(await titles(client, "lovage"))

    assert all(ranking == rankings[0] for ranking in rankings)
    exhaustive = rankings[0]
    assert sorted(exhaustive[:2]) == ["Lovage", "Lovage soup"]  # the title hits, the old one included
    assert sorted(exhaustive) == sorted(lovage)
    assert exhaustive != lovage  # ranked, not merely newest first


async def test_only_the_newest_matches_are_ranked_and_the_older_follow_newest_first(
    settings: Settings, committed_database: Database, lovage: list[str]
) -> None:
    async with client_with(settings, committed_database, search_rank_window=1_000) as client:
        exhaustive = await titles(client, "lovage")
    async with client_with(settings, committed_database, search_rank_window=3) as client:
        bounded = await titles(client, "lovage")
        pages = [await paged_titles(client, "lovage", limit) for limit in (1, 2, 3, 5)]

    newest, older = lovage[:3], lovage[3:]
    assert sorted(bounded[:3]) == sorted(newest)
    assert bounded[:3] == [title for title in exhaustive if title in newest]  # ranked among themselves
    assert bounded[3:] == older  # the old title hit ("Lovage") is not ranked first any more
    assert all(paged == bounded for paged in pages)  # pages across the window's edge neither skip nor repeat


async def test_the_window_bounds_a_users_posts_and_the_author_filter_too(
    settings: Settings,
    committed_database: Database,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    author: User,
    lovage: list[str],
) -> None:
    async with committed_sessionmaker() as session:
        other = await make_user(session)
        await make_post(session, other, title="Lovage elsewhere", body="Not the author's.")

    async with client_with(settings, committed_database, search_rank_window=2) as client:
        mine = await titles(client, "lovage", f"/users/{author.id}/posts")
        filtered = await titles(client, "lovage", author_id=author.id)
        theirs = await titles(client, "lovage", author_id=other.id)

    assert mine == filtered
    assert sorted(mine[:2]) == sorted(lovage[:2])
    assert mine[2:] == lovage[2:]
    assert theirs == ["Lovage elsewhere"]


async def test_pages_past_the_window_by_offset(
    settings: Settings, committed_database: Database, lovage: list[str]
) -> None:
    async with client_with(settings, committed_database, search_rank_window=3) as client:
        every = await titles(client, "lovage")
        for offset in range(len(every) + 2):
            assert await titles(client, "lovage", offset=offset, limit=2) == every[offset : offset + 2]


async def test_a_common_word_is_ranked_on_every_database_without_counting_its_matches(
    settings: Settings, committed_database: Database, lovage: list[str]
) -> None:
    # scan_rows 5: `lovage`, in the newest post, is common on SQLite (ranked without bm25) and on MariaDB
    # (read from the newest posts, not the index); window 1: PostgreSQL finds it among the newest 8 posts.
    common = {"search_rank_window": 3, "search_scan_rows": 5}
    async with client_with(settings, committed_database, **common) as client:
        ranked = await titles(client, "lovage")
        assert await titles(client, '"lovage soup"') == ["Lovage soup"]
        # Without `Tea`, the window reaches the newest title hit (on MariaDB, only the matches among the
        # newest 5 posts are ranked: the title hit follows them, as the older matches do).
        excluded = await titles(client, "lovage -honey")
        assert sorted(excluded[:3]) == ["Bread", "Lovage soup", "Pickles"]
        assert excluded[3:] == lovage[4:]
    async with client_with(settings, committed_database, search_rank_window=1) as client:
        newest_first = await titles(client, "lovage")
        assert await paged_titles(client, "lovage", 2) == newest_first

    assert ranked == ["Tea", "Bread", "Pickles", *lovage[3:]]  # by occurrences: four, two, one
    assert newest_first == lovage


@pytest.mark.backends("mariadb")
async def test_mariadb_reads_the_newest_posts_for_a_common_word_instead_of_the_index(
    settings: Settings, committed_database: Database, engine: AsyncEngine, lovage: list[str]
) -> None:
    # One post read to tell the common words: the newest, which holds `lovage` (so, of 16 posts or more, in
    # more than 5).
    async with client_with(settings, committed_database, search_rank_window=3, search_scan_rows=5) as client:
        with statements_run(engine) as run:
            bounded = await titles(client, "lovage")
        paged = await paged_titles(client, "lovage", 2)
        rare = await titles(client, "lovage potatoes")
        with statements_run(engine) as run_rare:
            assert await titles(client, "parsley") == [f"Parsley {n}" for n in reversed(range(len(LOVAGE)))]

    assert not any("MATCH" in statement for statement in run)
    assert any("MATCH" in statement for statement in run_rare)  # `parsley` is not in the newest post
    assert sorted(bounded[:3]) == sorted(lovage[:3])
    assert bounded[:3][0] == "Tea"  # the most occurrences: four
    assert bounded[3:] == lovage[3:]
    assert paged == bounded
    assert rare == ["Lovage soup"]


@pytest.mark.backends("mariadb")
async def test_mariadb_finds_older_matches_beyond_the_posts_it_scans(
    settings: Settings,
    committed_database: Database,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    author: User,
) -> None:
    async with committed_sessionmaker() as session:
        for number in range(30):
            body = "Borage." if number in (0, 1, 29) else "Nothing of the kind."
            await make_post(session, author, title=f"Post {number}", body=body)

    # The newest post holds the word: common, so only the newest 5 posts are read for the window (one
    # match), and the two older matches follow it.
    async with client_with(settings, committed_database, search_rank_window=3, search_scan_rows=5) as client:
        assert await titles(client, "borage") == ["Post 29", "Post 1", "Post 0"]
        assert await titles(client, "borage", offset=1, limit=1) == ["Post 1"]
        assert await titles(client, "borage", offset=2, limit=1) == ["Post 0"]
        assert await titles(client, "borage", f"/users/{author.id}/posts") == ["Post 29", "Post 1", "Post 0"]


@pytest.mark.backends("mariadb")
async def test_mariadb_counts_whole_words_to_tell_the_common_ones(
    settings: Settings,
    committed_database: Database,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    author: User,
) -> None:
    async with committed_sessionmaker() as session:
        for number in range(30):  # `tea` in one post; inside `steam` and `team` in all the others
            body = "Green tea." if number == 0 else "Steam from the team's kettle."
            await make_post(session, author, title=f"Post {number}", body=body)

    async with client_with(settings, committed_database, search_rank_window=3, search_scan_rows=5) as client:
        with statements_run(engine) as run:
            assert await titles(client, "tea") == ["Post 0"]

    assert any("MATCH" in statement for statement in run)  # rare as a word: the index finds it


@pytest.mark.backends("mariadb")
async def test_mariadb_asks_mroonga_only_where_innodbs_index_would_cost_more(
    settings: Settings, committed_database: Database, engine: AsyncEngine, write: Any
) -> None:
    await write("To be", "Or not to be.")
    await write("Lovage", "Lovage soup.")
    async with engine.connect() as conn:
        mroonga = await fulltext.has_mroonga_table(conn)

    used = {}
    async with client_with(settings, committed_database) as client:
        for q, title in (("lovage", "Lovage"), ('"to be"', "To be")):
            with statements_run(engine) as run:
                assert await titles(client, q) == [title]
            used[q] = any("posts_search" in statement for statement in run)

    # A rare word: InnoDB's index. Words InnoDB does not index (stop words): Mroonga, where there is one.
    assert used == {"lovage": False, '"to be"': mroonga}
