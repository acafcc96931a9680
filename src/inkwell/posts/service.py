"""Post operations. A single-row read or write is one Core statement on the transaction's connection,
built from the model's table, and so are the lists. None of them commits: the caller's
transaction does."""

from collections.abc import Collection, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, TypeVar, cast

from sqlalchemy import Delete, Select, Table, Update, bindparam, delete, false, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningDelete

from inkwell.auth.errors import NotYourPost
from inkwell.cache.invalidation import POSTS, invalidate_after_commit, user_posts_key
from inkwell.db import Transaction
from inkwell.errors import InkwellError, PreconditionFailed
from inkwell.fields import valid_id
from inkwell.orm import change_parameters, changed_values, records, utcnow, version_in, version_parameters
from inkwell.pagination import Page, PagedQuery, paged_query
from inkwell.posts import fulltext
from inkwell.posts.errors import PostNotFound
from inkwell.posts.models import Post, PostRecord
from inkwell.posts.schemas import PostCreate
from inkwell.posts.search import SearchQuery
from inkwell.users import service as users
from inkwell.users.errors import UserNotFound

POSTS_TABLE = cast(Table, Post.__table__)
_ALL = select(POSTS_TABLE)
_BY_ID = _ALL.where(POSTS_TABLE.c.id == bindparam("post_id"))
# FOR NO KEY UPDATE on PostgreSQL, like the users' lock.
_LOCKED_BY_ID = _BY_ID.with_for_update(key_share=True)
# Statements built once: their values are the parameters each execution passes.
_INSERT = insert(POSTS_TABLE)
_INSERT_RETURNING = _INSERT.returning(*POSTS_TABLE.c)
_DELETE_BY_ID = delete(POSTS_TABLE).where(POSTS_TABLE.c.id == bindparam("post_id"))
_BY_AUTHOR = _ALL.where(POSTS_TABLE.c.author_id == bindparam("author_id"))
_NEWEST_FIRST = paged_query(_ALL, POSTS_TABLE.c.id, descending=True)
_NEWEST_FIRST_BY_AUTHOR = paged_query(_BY_AUTHOR, POSTS_TABLE.c.id, descending=True)
_OLDEST_FIRST_BY_AUTHOR = paged_query(_BY_AUTHOR, POSTS_TABLE.c.id)


async def create_post(tx: Transaction, *, author_id: int, data: PostCreate) -> PostRecord:
    """Insert the post; the foreign key, not a SELECT before it, says whether the author exists."""
    if not valid_id(author_id):
        raise UserNotFound
    values = {"author_id": author_id, "title": data.title, "body": data.body}
    try:
        if tx.connection.dialect.insert_returning:
            row = (await tx.connection.execute(_INSERT_RETURNING, values)).one()
        else:
            new_id = (await tx.connection.execute(_INSERT, values)).lastrowid
            row = (await tx.connection.execute(_BY_ID, {"post_id": new_id})).one()
    except IntegrityError as exc:
        raise UserNotFound from exc
    invalidate_after_commit(tx, POSTS, user_posts_key(author_id))
    return PostRecord.of(row)


async def insert_posts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many posts in a few statements."""
    # Core's executemany on the table: the ORM's bulk path costs more than the database does here.
    await session.execute(insert(cast(Table, Post.__table__)), rows)


async def get_post(tx: Transaction, post_id: int, *, lock: bool = False) -> PostRecord | None:
    """The post, or None; with `lock`, locked against other writers until the transaction ends."""
    if not valid_id(post_id):
        return None
    row = (await tx.connection.execute(_LOCKED_BY_ID if lock else _BY_ID, {"post_id": post_id})).first()
    return None if row is None else PostRecord.of(row)


async def list_user_posts(
    tx: Transaction, *, author_id: int, page: Page, search: SearchQuery | None = None
) -> list[PostRecord]:
    """A user's posts, oldest first (the order they were written in), or those matching `search`, best
    first; one more than the page holds.

    The user is looked up only when the page is empty: posts prove their author exists.
    """
    if not valid_id(author_id):
        raise UserNotFound
    statement, parameters = _paged(tx, _OLDEST_FIRST_BY_AUTHOR, page, search)
    result = await tx.connection.execute(statement, {**parameters, "author_id": author_id})
    posts = records(result, PostRecord)
    if not posts and await users.get_user(tx, author_id) is None:
        raise UserNotFound
    return posts


async def list_posts(
    tx: Transaction, *, page: Page, author_id: int | None = None, search: SearchQuery | None = None
) -> list[PostRecord]:
    """All posts, newest first, or those matching `search`, best first; optionally of one author; one more
    than the page holds."""
    if author_id is None:
        statement, parameters = _paged(tx, _NEWEST_FIRST, page, search)
    else:
        statement, parameters = _paged(tx, _NEWEST_FIRST_BY_AUTHOR, page, search)
        parameters["author_id"] = author_id
    return records(await tx.connection.execute(statement, parameters), PostRecord)


def _paged(
    tx: Transaction, pages: PagedQuery[Select[Any]], page: Page, search: SearchQuery | None
) -> tuple[Select[Any], dict[str, Any]]:
    """The statement of a list's page and its parameters: by the list's own order, or by relevance."""
    if search is None:
        return pages.for_page(page)
    query = pages.unpaged
    if search.matches_nothing:  # only exclusions, or no word at all
        return query.where(false()), {}
    # Ranked results page by offset only: a cursor would need the rank too.
    dialect = tx.connection.dialect.name
    return fulltext.search(query, search, dialect, offset=page.offset, limit=page.limit + 1), {}


async def update_post(
    tx: Transaction,
    post_id: int,
    *,
    changes: dict[str, Any],
    author_id: int | None,
    versions: Collection[int] | None = None,
) -> PostRecord:
    """Apply `changes` to the post, only if `author_id` (when given) wrote it, and with `versions` only
    at one of them: one `UPDATE ... WHERE ... RETURNING` where the database has it, else checked
    under the row's lock. PostNotFound, NotYourPost or PreconditionFailed, in that order, otherwise."""
    if not valid_id(post_id):
        raise PostNotFound
    if changes and tx.connection.dialect.update_returning:
        statement = _update_statement(
            tuple(changes), by_author=author_id is not None, versioned=versions is not None, returning=True
        )
        parameters = {**_conditions(post_id, author_id, versions), **change_parameters(changes, now=utcnow())}
        row = (await tx.connection.execute(statement, parameters)).first()
        if row is None:
            raise await _why_nothing_matched(tx, post_id, author_id)
        post = PostRecord.of(row)
    else:
        post = await _checked(tx, post_id, author_id, versions)
        if not changes:
            return post
        now = utcnow()
        statement = _update_statement(tuple(changes), by_author=False, versioned=False, returning=False)
        await tx.connection.execute(
            statement, {**_conditions(post_id), **change_parameters(changes, now=now)}
        )
        post = replace(post, **changes, version=post.version + 1, updated_at=now)
    invalidate_after_commit(tx, POSTS, user_posts_key(post.author_id))
    return post


async def delete_post(
    tx: Transaction, post_id: int, *, author_id: int | None, versions: Collection[int] | None = None
) -> None:
    """Delete the post, under the same conditions as `update_post`, checked the same way."""
    if not valid_id(post_id):
        raise PostNotFound
    if tx.connection.dialect.delete_returning:
        statement = _delete_statement(by_author=author_id is not None, versioned=versions is not None)
        deleted = (await tx.connection.execute(statement, _conditions(post_id, author_id, versions))).first()
        if deleted is None:
            raise await _why_nothing_matched(tx, post_id, author_id)
        owner = deleted.author_id
    else:
        owner = (await _checked(tx, post_id, author_id, versions)).author_id
        await tx.connection.execute(_DELETE_BY_ID, _conditions(post_id))
    invalidate_after_commit(tx, POSTS, user_posts_key(owner))


# The writes, built once for each shape and reused (see users.service._update_statement): their values
# and conditions are parameters.
StatementT = TypeVar("StatementT", Update, Delete)


@lru_cache(maxsize=64)
def _update_statement(
    columns: tuple[str, ...], *, by_author: bool, versioned: bool, returning: bool
) -> Update:
    statement = _where(update(POSTS_TABLE), by_author=by_author, versioned=versioned)
    statement = statement.ordered_values(*changed_values(POSTS_TABLE, columns))
    return statement.returning(*POSTS_TABLE.c) if returning else statement


@lru_cache(maxsize=4)
def _delete_statement(*, by_author: bool, versioned: bool) -> ReturningDelete[Any]:
    statement = _where(delete(POSTS_TABLE), by_author=by_author, versioned=versioned)
    return statement.returning(POSTS_TABLE.c.author_id)


def _where(statement: StatementT, *, by_author: bool, versioned: bool) -> StatementT:
    statement = statement.where(POSTS_TABLE.c.id == bindparam("post_id"))
    if by_author:
        statement = statement.where(POSTS_TABLE.c.author_id == bindparam("by_author_id"))
    if versioned:
        statement = statement.where(version_in(POSTS_TABLE))
    return statement


def _conditions(
    post_id: int, author_id: int | None = None, versions: Collection[int] | None = None
) -> dict[str, Any]:
    conditions: dict[str, Any] = {"post_id": post_id}
    if author_id is not None:
        conditions["by_author_id"] = author_id
    if versions is not None:
        conditions.update(version_parameters(versions))
    return conditions


async def _checked(
    tx: Transaction, post_id: int, author_id: int | None, versions: Collection[int] | None
) -> PostRecord:
    """The post, locked, where the database cannot check a write's conditions in the write itself."""
    post = await get_post(tx, post_id, lock=True)
    if post is None:
        raise PostNotFound
    if author_id is not None and post.author_id != author_id:
        raise NotYourPost
    if versions is not None and post.version not in versions:
        raise PreconditionFailed
    return post


async def _why_nothing_matched(tx: Transaction, post_id: int, author_id: int | None) -> InkwellError:
    """A write that matched no row: no such post (404), another's (403), or at another version (412)."""
    post = await get_post(tx, post_id)
    if post is None:
        return PostNotFound()
    if author_id is not None and post.author_id != author_id:
        return NotYourPost()
    return PreconditionFailed()
