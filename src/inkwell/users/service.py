"""User operations. A single-row read or write is one Core statement on the transaction's connection,
built from the model's table; the flows that change a user with other records (confirming an email)
and the bulk tools use the ORM session. None of them commits: the caller's transaction does."""

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, case, delete, func, insert, null, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from inkwell.cache.invalidation import POSTS, invalidate_after_commit, user_posts_key
from inkwell.db import Transaction, rowcount
from inkwell.errors import PreconditionFailed
from inkwell.fields import valid_id
from inkwell.orm import change_parameters, changed_values, records, utcnow, version_in, version_parameters
from inkwell.pagination import Page, paged_query
from inkwell.users.errors import EmailTaken, UserNotFound
from inkwell.users.models import User, UserRecord
from inkwell.users.schemas import UserFields

USERS = cast(Table, User.__table__)
_BY_ID = select(USERS).where(USERS.c.id == bindparam("user_id"))
# FOR NO KEY UPDATE on PostgreSQL, so that new posts (which only share-lock their author) go on.
_LOCKED_BY_ID = _BY_ID.with_for_update(key_share=True)
# Statements built once: their values are the parameters each execution passes.
_INSERT = insert(USERS)
_INSERT_RETURNING = _INSERT.returning(*USERS.c)
_PAGE = paged_query(select(USERS), USERS.c.id)
_DELETE = delete(USERS).where(USERS.c.id == bindparam("user_id"))
_DELETE_VERSIONED = _DELETE.where(version_in(USERS))


async def get_user(tx: Transaction, user_id: int, *, lock: bool = False) -> UserRecord | None:
    """The user, or None; with `lock`, locked against other writers until the transaction ends."""
    if not valid_id(user_id):
        return None
    result = await tx.connection.execute(_LOCKED_BY_ID if lock else _BY_ID, {"user_id": user_id})
    row = result.first()
    return None if row is None else UserRecord.of(row)


async def create_user(
    tx: Transaction, *, data: UserFields, password_hash: str | None = None, is_admin: bool = False
) -> UserRecord:
    """Insert a user; the unique constraint on email decides between concurrent sign-ups."""
    values = {
        "email": data.email,
        "name": data.name,
        "bio": data.bio,
        "password_hash": password_hash,
        "is_admin": is_admin,
    }
    try:
        if tx.connection.dialect.insert_returning:
            row = (await tx.connection.execute(_INSERT_RETURNING, values)).one()
        else:
            new_id = (await tx.connection.execute(_INSERT, values)).lastrowid
            row = (await tx.connection.execute(_BY_ID, {"user_id": new_id})).one()
    except IntegrityError as exc:
        raise EmailTaken from exc
    user = UserRecord.of(row)
    # A new user may take the id of a deleted one, whose pages of posts may still be cached.
    invalidate_after_commit(tx, POSTS, user_posts_key(user.id))
    return user


async def update_user(
    tx: Transaction, user_id: int, *, changes: dict[str, Any], versions: Collection[int] | None = None
) -> UserRecord:
    """Apply `changes` to the user, in one `UPDATE ... RETURNING` where the database has it; the version
    goes up with every change. A new email is unverified.

    With `versions`, only if the user's version is one of them (PreconditionFailed otherwise): checked
    in the UPDATE itself, or under the row's lock where the database has no UPDATE ... RETURNING.
    """
    if not valid_id(user_id):
        raise UserNotFound
    if changes and tx.connection.dialect.update_returning:
        return await _update_returning(tx, user_id, changes, versions)
    # Locked, so that the check and the write are one step for concurrent writers.
    user = await get_user(tx, user_id, lock=True)
    if user is None:
        raise UserNotFound
    if versions is not None and user.version not in versions:
        raise PreconditionFailed
    if not changes:
        return user
    now = utcnow()
    try:
        await tx.connection.execute(
            _update_statement(tuple(changes), versioned=False, returning=False),
            _update_parameters(user_id, changes, now=now),
        )
    except IntegrityError as exc:
        raise EmailTaken from exc
    # What the UPDATE wrote, worked out here rather than read back: the row is locked.
    verified_at = user.email_verified_at if changes.get("email", user.email) == user.email else None
    return replace(user, **changes, version=user.version + 1, updated_at=now, email_verified_at=verified_at)


async def _update_returning(
    tx: Transaction, user_id: int, changes: dict[str, Any], versions: Collection[int] | None
) -> UserRecord:
    statement = _update_statement(tuple(changes), versioned=versions is not None, returning=True)
    parameters = _update_parameters(user_id, changes, now=utcnow(), versions=versions)
    try:
        row = (await tx.connection.execute(statement, parameters)).first()
    except IntegrityError as exc:
        raise EmailTaken from exc
    if row is not None:
        return UserRecord.of(row)
    raise await _why_nothing_matched(tx, user_id, versions)


@lru_cache(maxsize=64)
def _update_statement(columns: tuple[str, ...], *, versioned: bool, returning: bool) -> Update:
    """The UPDATE of these columns, built once and reused: a statement built anew for every request cost
    more CPU than running it. Its values are parameters (`_update_parameters`)."""
    assignments: list[tuple[Any, Any]] = []
    if "email" in columns:
        # A new address is unverified; the same one sent again keeps its verification. Set before the
        # email: MariaDB evaluates SET from left to right, and would compare the address just written.
        same = USERS.c.email == bindparam("new_email")  # the new address's parameter (`changed_values`)
        assignments.append((USERS.c.email_verified_at, case((same, USERS.c.email_verified_at), else_=null())))
    assignments += changed_values(USERS, columns)
    statement = update(USERS).where(USERS.c.id == bindparam("user_id")).ordered_values(*assignments)
    if versioned:
        statement = statement.where(version_in(USERS))
    return statement.returning(*USERS.c) if returning else statement


def _update_parameters(
    user_id: int, changes: dict[str, Any], *, now: datetime, versions: Collection[int] | None = None
) -> dict[str, Any]:
    parameters = change_parameters(changes, now=now)
    parameters["user_id"] = user_id
    if versions is not None:
        parameters.update(version_parameters(versions))
    return parameters


async def _why_nothing_matched(
    tx: Transaction, user_id: int, versions: Collection[int] | None
) -> PreconditionFailed | UserNotFound:
    """A write that matched no row: the user exists at another version (412), or not at all (404)."""
    if versions is not None and await get_user(tx, user_id) is not None:
        return PreconditionFailed()
    return UserNotFound()


async def delete_user(tx: Transaction, user_id: int, *, versions: Collection[int] | None = None) -> None:
    """Delete the user, with `versions` only at one of them; the database deletes their posts (ON DELETE
    CASCADE) in the same transaction."""
    parameters: dict[str, Any] = {"user_id": user_id}
    if versions is None:
        statement = _DELETE
    else:
        statement = _DELETE_VERSIONED
        parameters.update(version_parameters(versions))
    if not valid_id(user_id) or rowcount(await tx.connection.execute(statement, parameters)) == 0:
        raise await _why_nothing_matched(tx, user_id, versions)
    invalidate_after_commit(tx, POSTS, user_posts_key(user_id))


async def load_user(session: AsyncSession, user_id: int, *, lock: bool = False) -> User | None:
    """The user as an ORM object, for the flows that change it with other records in one unit of work."""
    if not valid_id(user_id):
        return None
    return await session.get(User, user_id, with_for_update={"key_share": True} if lock else None)


async def list_users(tx: Transaction, *, page: Page) -> list[UserRecord]:
    """Users in id order, one more than the page holds (see `paged_query`)."""
    return records(await tx.connection.execute(*_PAGE.for_page(page)), UserRecord)


async def confirm_email(session: AsyncSession, user: User, *, email: str, now: datetime) -> None:
    """Make `email` the user's address, verified now (a token mailed to it came back): a change like any
    other, so the version goes up. EmailTaken when another account has it."""
    user.email = email
    user.email_verified_at = now
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
