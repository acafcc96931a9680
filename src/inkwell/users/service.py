"""User operations. They flush and query; the request's transaction commits."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.fields import valid_id
from inkwell.pagination import Page
from inkwell.users.errors import EmailTaken
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


async def list_users(session: AsyncSession, *, page: Page) -> list[User]:
    query = select(User).order_by(User.id).limit(page.limit).offset(page.offset)
    return list(await session.scalars(query))


async def update_user(session: AsyncSession, user: User, *, changes: dict[str, Any]) -> User:
    for field, value in changes.items():
        setattr(user, field, value)
    await _flush_or_email_taken(session)
    return user


async def delete_user(session: AsyncSession, user: User) -> None:
    """Delete the user; the database deletes their posts in the same transaction."""
    await session.delete(user)
    await session.flush()


async def _flush_or_email_taken(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise EmailTaken from exc
