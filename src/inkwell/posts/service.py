"""Post operations: statements on the transaction's connection, built from the `posts` table; the row's
reads and versioned, owned writes go through `POSTS` (inkwell.versioned). None of them commits: the
caller's transaction does."""

from typing import Any

from sqlalchemy import Select, bindparam, select

from inkwell.db import Transaction
from inkwell.fields import valid_id
from inkwell.orm import records, table_of
from inkwell.pagination import Page, PagedQuery, paged_query
from inkwell.posts import fulltext
from inkwell.posts.errors import NotYourPost, PostNotFound
from inkwell.posts.models import Post, PostRecord
from inkwell.posts.schemas import PostCreate
from inkwell.posts.search import Search
from inkwell.users import service as users
from inkwell.users.errors import UserNotFound
from inkwell.versioned import VersionedTable

# A post refused by the database has no author: the foreign key, not a SELECT before it, says so.
POSTS = VersionedTable(
    Post, PostRecord, not_found=PostNotFound, refused=UserNotFound, owner="author_id", not_yours=NotYourPost
)
_TABLE = table_of(Post)
_ALL = select(_TABLE)
_BY_AUTHOR = _ALL.where(_TABLE.c.author_id == bindparam("author_id"))
_NEWEST_FIRST = paged_query(_ALL, _TABLE.c.id, descending=True)
_NEWEST_FIRST_BY_AUTHOR = paged_query(_BY_AUTHOR, _TABLE.c.id, descending=True)
_OLDEST_FIRST_BY_AUTHOR = paged_query(_BY_AUTHOR, _TABLE.c.id)


async def create_post(tx: Transaction, *, author_id: int, data: PostCreate) -> PostRecord:
    """Insert the post; UserNotFound when its author does not exist."""
    if not valid_id(author_id):
        raise UserNotFound
    return await POSTS.insert(tx, {"author_id": author_id, "title": data.title, "body": data.body})


async def list_user_posts(
    tx: Transaction, *, author_id: int, page: Page, search: Search | None = None
) -> list[PostRecord]:
    """A user's posts, oldest first (the order they were written in), or those matching `search`, best
    first; one more than the page holds.

    The user is looked up only when the page is empty: posts prove their author exists.
    """
    if not valid_id(author_id):
        raise UserNotFound
    posts = await _list(tx, _OLDEST_FIRST_BY_AUTHOR, page, search, {"author_id": author_id})
    if not posts and await users.USERS.get(tx, author_id) is None:
        raise UserNotFound
    return posts


async def list_posts(
    tx: Transaction, *, page: Page, author_id: int | None = None, search: Search | None = None
) -> list[PostRecord]:
    """All posts, newest first, or those matching `search`, best first; optionally of one author; one more
    than the page holds."""
    if author_id is None:
        return await _list(tx, _NEWEST_FIRST, page, search, {})
    return await _list(tx, _NEWEST_FIRST_BY_AUTHOR, page, search, {"author_id": author_id})


async def _list(
    tx: Transaction,
    pages: PagedQuery[Select[Any]],
    page: Page,
    search: Search | None,
    parameters: dict[str, Any],
) -> list[PostRecord]:
    """A list's page, one row longer: by the list's own order, or the matches of `search` (which page by
    offset only: a cursor would need the rank too)."""
    if search is None:
        statement, paging = pages.for_page(page)
        return records(await tx.connection.execute(statement, {**paging, **parameters}), PostRecord)
    if search.query.matches_nothing:  # only exclusions, or no word at all
        return []
    return await fulltext.find(
        tx.connection, pages.unpaged, parameters, search, offset=page.offset, limit=page.limit + 1
    )
