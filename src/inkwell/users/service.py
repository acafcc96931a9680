"""User operations. They flush and query; the request's transaction commits."""

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.fields import valid_id
from inkwell.pagination import Page, paged_query
from inkwell.users.errors import EmailTaken, UserNotFound
from inkwell.users.models import User
from inkwell.users.schemas import UserCreate


async def create_user(session: AsyncSession, *, data: UserCreate) -> User:
    """Insert a user; the unique constraint on email decides between concurrent sign-ups."""
    user = User(email=data.email, name=data.name, bio=data.bio)
    session.add(user)
    await _flush_or_email_taken(session)
    return user


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    if not valid_id(user_id):
        return None
    return await session.get(User, user_id)


async def list_users(session: AsyncSession, *, page: Page) -> Sequence[User]:
    """Users in id order, one more than the page holds (see `paged_query`)."""
    return (await session.scalars(paged_query(select(User), User.id, page))).all()


async def update_user(session: AsyncSession, user_id: int, *, changes: dict[str, Any]) -> User:
    """Apply `changes` to the user, in one `UPDATE ... RETURNING` where the database has it."""
    if changes and session.get_bind().dialect.update_returning:
        return await _update_returning(session, user_id, changes)
    user = await get_user(session, user_id)
    if user is None:
        raise UserNotFound
    for field, value in changes.items():
        setattr(user, field, value)
    await _flush_or_email_taken(session)
    return user


async def _update_returning(session: AsyncSession, user_id: int, changes: dict[str, Any]) -> User:
    if not valid_id(user_id):
        raise UserNotFound
    # `updated_at` is set by the column's `onupdate`.
    statement = update(User).where(User.id == user_id).values(**changes).returning(User)
    try:
        user = (await session.scalars(statement)).one_or_none()
    except IntegrityError as exc:
        raise EmailTaken from exc
    if user is None:
        raise UserNotFound
    return user


async def delete_user(session: AsyncSession, user: User) -> None:
    """Delete the user; the database deletes their posts in the same transaction."""
    await session.delete(user)
    await session.flush()


async def insert_users(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert many users in a few multi-row statements; their new ids come back, in no particular order."""
    return list(await session.scalars(insert(User).returning(User.id), rows))


async def registered_emails(session: AsyncSession, emails: Collection[str]) -> set[str]:
    """Those of `emails` that belong to a user already."""
    return set(await session.scalars(select(User.email).where(User.email.in_(emails))))


async def users_after(session: AsyncSession, after_id: int, *, limit: int) -> list[User]:
    """Up to `limit` users with ids above `after_id`, in id order: a page that stays cheap at any depth."""
    query = select(User).where(User.id > after_id).order_by(User.id).limit(limit)
    return list(await session.scalars(query))


async def count_users(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(User)) or 0


async def _flush_or_email_taken(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise EmailTaken from exc
