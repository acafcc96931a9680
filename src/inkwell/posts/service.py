"""Post operations. They flush and query; the request's transaction commits."""

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.fields import valid_id
from inkwell.pagination import Page
from inkwell.posts.models import Post
from inkwell.posts.schemas import PostCreate
from inkwell.users.errors import UserNotFound
from inkwell.users.models import User


async def create_post(session: AsyncSession, *, author: User, data: PostCreate) -> Post:
    post = Post(author_id=author.id, title=data.title, body=data.body)
    session.add(post)
    try:
        await session.flush()
    except IntegrityError as exc:
        # The author was deleted by a concurrent request after it was loaded.
        raise UserNotFound from exc
    return post


async def insert_posts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many posts in a few statements."""
    # Core's executemany on the table: the ORM's bulk path costs more than the database does here.
    await session.execute(insert(cast(Table, Post.__table__)), rows)


async def get_post(session: AsyncSession, post_id: int) -> Post | None:
    if not valid_id(post_id):
        return None
    return await session.get(Post, post_id)


async def list_user_posts(session: AsyncSession, *, author_id: int, page: Page) -> list[Post]:
    """A user's posts, oldest first (the order they were written in)."""
    query = select(Post).where(Post.author_id == author_id).order_by(Post.id)
    return list(await session.scalars(query.limit(page.limit).offset(page.offset)))


async def list_posts(session: AsyncSession, *, page: Page, author_id: int | None = None) -> list[Post]:
    """All posts, newest first, optionally of one author."""
    query = select(Post).order_by(Post.id.desc())
    if author_id is not None:
        query = query.where(Post.author_id == author_id)
    return list(await session.scalars(query.limit(page.limit).offset(page.offset)))


async def update_post(session: AsyncSession, post: Post, *, changes: dict[str, Any]) -> Post:
    for field, value in changes.items():
        setattr(post, field, value)
    await session.flush()
    return post


async def delete_post(session: AsyncSession, post: Post) -> None:
    await session.delete(post)
    await session.flush()
