"""Post operations. They flush and query; the request's transaction commits."""

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Select, Table, false, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from inkwell.errors import PreconditionFailed
from inkwell.fields import valid_id
from inkwell.pagination import Page, paged_query
from inkwell.posts import fulltext
from inkwell.posts.models import Post
from inkwell.posts.schemas import PostCreate
from inkwell.posts.search import SearchQuery
from inkwell.users.errors import UserNotFound
from inkwell.users.models import User


async def create_post(session: AsyncSession, *, author_id: int, data: PostCreate) -> Post:
    """Insert the post; the foreign key, not a SELECT before it, says whether the author exists."""
    if not valid_id(author_id):
        raise UserNotFound
    post = Post(author_id=author_id, title=data.title, body=data.body)
    session.add(post)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise UserNotFound from exc
    return post


async def insert_posts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many posts in a few statements."""
    # Core's executemany on the table: the ORM's bulk path costs more than the database does here.
    await session.execute(insert(cast(Table, Post.__table__)), rows)


async def get_post(session: AsyncSession, post_id: int, *, lock: bool = False) -> Post | None:
    """The post, or None; with `lock`, locked against other writers until the transaction ends."""
    if not valid_id(post_id):
        return None
    return await session.get(Post, post_id, with_for_update={"key_share": True} if lock else None)


async def list_user_posts(
    session: AsyncSession, *, author_id: int, page: Page, search: SearchQuery | None = None
) -> Sequence[Post]:
    """A user's posts, oldest first (the order they were written in), or those matching `search`, best
    first; one more than the page holds.

    The user is looked up only when the page is empty: posts prove their author exists.
    """
    if not valid_id(author_id):
        raise UserNotFound
    query = select(Post).where(Post.author_id == author_id)
    posts = (await session.scalars(_paged(session, query, page, search=search))).all()
    if not posts and await session.get(User, author_id) is None:
        raise UserNotFound
    return posts


async def list_posts(
    session: AsyncSession, *, page: Page, author_id: int | None = None, search: SearchQuery | None = None
) -> Sequence[Post]:
    """All posts, newest first, or those matching `search`, best first; optionally of one author; one more
    than the page holds."""
    query = select(Post)
    if author_id is not None:
        query = query.where(Post.author_id == author_id)
    return (await session.scalars(_paged(session, query, page, search=search, descending=True))).all()


def _paged(
    session: AsyncSession,
    query: Select[Post],
    page: Page,
    *,
    search: SearchQuery | None,
    descending: bool = False,
) -> Select[Post]:
    if search is None:
        return paged_query(query, Post.id, page, descending=descending)
    if search.matches_nothing:  # only exclusions, or no word at all
        return query.where(false())
    # Ranked results page by offset only: a cursor would need the rank too.
    dialect = session.get_bind().dialect.name
    return fulltext.search(query, search, dialect, offset=page.offset, limit=page.limit + 1)


async def update_post(session: AsyncSession, post: Post, *, changes: dict[str, Any]) -> Post:
    for field, value in changes.items():
        setattr(post, field, value)
    await _flush_changes(session)
    return post


async def delete_post(session: AsyncSession, post: Post) -> None:
    await session.delete(post)
    await _flush_changes(session)


async def _flush_changes(session: AsyncSession) -> None:
    try:
        await session.flush()
    except StaleDataError as exc:
        # The row's version moved since it was loaded: someone else changed it in between.
        raise PreconditionFailed from exc
