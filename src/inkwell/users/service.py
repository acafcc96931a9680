"""User operations: statements on the transaction's connection, built from the `users` table; the row's
reads and versioned writes go through `USERS` (inkwell.versioned). None of them commits: the caller's
transaction does."""

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, insert, null, select

from inkwell.conditional import IfMatch
from inkwell.db import Transaction
from inkwell.orm import record, records, table_of
from inkwell.pagination import Page, paged_query
from inkwell.users.errors import EmailTaken, UserNotFound
from inkwell.users.models import User, UserRecord, new_stamp
from inkwell.users.schemas import UserFields
from inkwell.versioned import VersionedTable

USERS = VersionedTable(User, UserRecord, not_found=UserNotFound, refused=EmailTaken)
_TABLE = table_of(User)
_PAGE = paged_query(select(_TABLE), _TABLE.c.id)
_BY_EMAIL = select(_TABLE).where(_TABLE.c.email == bindparam("email"))
# A new address is unverified; the same one sent again keeps its verification. Set before the email:
# MariaDB evaluates SET from left to right, and would compare the address just written.
_UNVERIFIED_IF_NEW = (
    _TABLE.c.email_verified_at,
    case((_TABLE.c.email == USERS.new_value("email"), _TABLE.c.email_verified_at), else_=null()),
)


async def find_user(tx: Transaction, email: str) -> UserRecord | None:
    """The user with this email (compared without regard to case), or None."""
    row = (await tx.connection.execute(_BY_EMAIL, {"email": email.lower()})).first()
    return None if row is None else record(row, UserRecord)


async def create_user(
    tx: Transaction, *, data: UserFields, password_hash: str | None = None, is_admin: bool = False
) -> UserRecord:
    """Insert a user; the unique constraint on email decides between concurrent sign-ups (EmailTaken)."""
    values = {
        "email": data.email,
        "name": data.name,
        "bio": data.bio,
        "password_hash": password_hash,
        "is_admin": is_admin,
    }
    return await USERS.insert(tx, values)


async def update_user(
    tx: Transaction, user_id: int, *, changes: dict[str, Any], if_match: IfMatch | None = None
) -> UserRecord:
    """Apply `changes` to the user; with `if_match`, only at a version it names (PreconditionFailed
    otherwise). A new email is unverified; EmailTaken when another account has it."""
    also = (_UNVERIFIED_IF_NEW,) if "email" in changes and "email_verified_at" not in changes else ()
    return await USERS.update(tx, user_id, changes, if_match=if_match, also=also)


async def list_users(tx: Transaction, *, page: Page) -> list[UserRecord]:
    """Users in id order, one more than the page holds (see `paged_query`)."""
    return records(await tx.connection.execute(*_PAGE.for_page(page)), UserRecord)


async def confirm_email(tx: Transaction, user_id: int, *, email: str, now: datetime) -> UserRecord:
    """Make `email` the user's address, verified now (a token mailed to it came back), under a new security
    stamp. EmailTaken when another account has it."""
    changes = {"email": email, "email_verified_at": now, "security_stamp": new_stamp()}
    return await USERS.update(tx, user_id, changes)


async def mark_email_verified(tx: Transaction, user_id: int, *, email: str, now: datetime) -> bool:
    """Record that the user reads mail at `email`, if it is still their address; whether it is. Verified
    again, it keeps the time it was first verified."""
    user = await USERS.get(tx, user_id, lock=True)
    if user is None or user.email != email:
        return False
    if user.email_verified_at is None:
        await USERS.update(tx, user_id, {"email_verified_at": now})
    return True


async def set_password(tx: Transaction, user_id: int, password_hash: str) -> None:
    """A new password (its hash), under a new security stamp: what the API shows of the user stays as it
    is, ETag included."""
    await USERS.update(tx, user_id, {"password_hash": password_hash, "security_stamp": new_stamp()})


async def rehash_password(tx: Transaction, user_id: int, password_hash: str) -> None:
    """The same password hashed with the current parameters: nothing else changes."""
    await USERS.update(tx, user_id, {"password_hash": password_hash})


async def set_admin(tx: Transaction, email: str, *, admin: bool) -> UserRecord | None:
    """Make the user with `email` an admin, or not; None when there is no such user."""
    user = await find_user(tx, email)
    if user is None or user.is_admin == admin:
        return user
    return await USERS.update(tx, user.id, {"is_admin": admin})


async def insert_users(tx: Transaction, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert many users in a few multi-row statements; their new ids come back, in no particular order."""
    return list(await tx.connection.scalars(insert(_TABLE).returning(_TABLE.c.id), list(rows)))


async def registered_emails(tx: Transaction, emails: Collection[str]) -> set[str]:
    """Those of `emails` that belong to a user already."""
    return set(await tx.connection.scalars(select(_TABLE.c.email).where(_TABLE.c.email.in_(emails))))


async def users_after(tx: Transaction, after_id: int, *, limit: int) -> list[UserRecord]:
    """Up to `limit` users with ids above `after_id`, in id order: a page that stays cheap at any depth."""
    query = select(_TABLE).where(_TABLE.c.id > after_id).order_by(_TABLE.c.id).limit(limit)
    return records(await tx.connection.execute(query), UserRecord)


async def count_users(tx: Transaction) -> int:
    return await tx.connection.scalar(select(func.count()).select_from(_TABLE)) or 0
