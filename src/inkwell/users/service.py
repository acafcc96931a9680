"""User operations. They flush and query; the request's transaction commits."""

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from inkwell.errors import PreconditionFailed
from inkwell.fields import valid_id
from inkwell.pagination import Page, paged_query
from inkwell.users.errors import EmailTaken, UserNotFound
from inkwell.users.models import User
from inkwell.users.schemas import UserFields


async def create_user(
    session: AsyncSession, *, data: UserFields, password_hash: str | None = None, is_admin: bool = False
) -> User:
    """Insert a user; the unique constraint on email decides between concurrent sign-ups."""
    user = User(
        email=data.email, name=data.name, bio=data.bio, password_hash=password_hash, is_admin=is_admin
    )
    session.add(user)
    await _flush_changes(session)
    return user


async def get_user(session: AsyncSession, user_id: int, *, lock: bool = False) -> User | None:
    """The user, or None; with `lock`, locked against other writers until the transaction ends."""
    if not valid_id(user_id):
        return None
    # FOR NO KEY UPDATE on PostgreSQL, so that new posts (which only share-lock their author) go on.
    return await session.get(User, user_id, with_for_update={"key_share": True} if lock else None)


async def list_users(session: AsyncSession, *, page: Page) -> Sequence[User]:
    """Users in id order, one more than the page holds (see `paged_query`)."""
    return (await session.scalars(paged_query(select(User), User.id, page))).all()


async def update_user(
    session: AsyncSession, user_id: int, *, changes: dict[str, Any], versions: Collection[int] | None = None
) -> User:
    """Apply `changes` to the user, in one `UPDATE ... RETURNING` where the database has it. A new email
    is unverified.

    With `versions`, only if the user's version is one of them (PreconditionFailed otherwise): checked
    in the UPDATE itself, or under the row's lock where the database has no RETURNING.
    """
    if changes and session.get_bind().dialect.update_returning:
        return await _update_returning(session, user_id, changes, versions)
    # Locked, so that concurrent changes queue rather than trip the ORM's version check.
    user = await get_user(session, user_id, lock=True)
    if user is None:
        raise UserNotFound
    if versions is not None and user.version not in versions:
        raise PreconditionFailed
    if changes.get("email", user.email) != user.email:
        user.email_verified_at = None
    for field, value in changes.items():
        setattr(user, field, value)
    await _flush_changes(session)
    return user


async def _update_returning(
    session: AsyncSession, user_id: int, changes: dict[str, Any], versions: Collection[int] | None
) -> User:
    if not valid_id(user_id):
        raise UserNotFound
    # `updated_at` is set by the column's `onupdate`; the version goes up with every change.
    statement = update(User).where(User.id == user_id).values(**changes, version=User.version + 1)
    if "email" in changes:
        statement = statement.values(email_verified_at=_verified_unless_changed(changes["email"]))
    if versions is not None:
        statement = statement.where(User.version.in_(versions))
    try:
        user = (await session.scalars(statement.returning(User))).one_or_none()
    except IntegrityError as exc:
        raise EmailTaken from exc
    if user is not None:
        return user
    if versions is not None and await get_user(session, user_id) is not None:
        raise PreconditionFailed
    raise UserNotFound


def _verified_unless_changed(email: str) -> Any:
    # A new address is unverified; the same one sent again keeps its verification.
    return case((User.email == email, User.email_verified_at), else_=null())


async def confirm_email(session: AsyncSession, user: User, *, email: str, now: datetime) -> None:
    """Make `email` the user's address, verified now (a token mailed to it came back): a change like any
    other, so the version goes up. EmailTaken when another account has it."""
    user.email = email
    user.email_verified_at = now
    await _flush_changes(session)


async def delete_user(session: AsyncSession, user: User) -> None:
    """Delete the user; the database deletes their posts in the same transaction."""
    await session.delete(user)
    await _flush_changes(session)


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


async def _flush_changes(session: AsyncSession) -> None:
    """Flush, turning a taken email and a stale version into domain errors."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise EmailTaken from exc
    except StaleDataError as exc:
        # The row's version moved since it was loaded: someone else changed it in between.
        raise PreconditionFailed from exc
