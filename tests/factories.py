"""Plain functions that put rows in the test's database: Core inserts built from the models' tables, in
the test's session (committed as its savepoint) or in a transaction of the app's `Database`."""

from itertools import count
from typing import Any

from sqlalchemy import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.conditional import IfMatch
from inkwell.db import Transaction
from inkwell.orm import record, table_of, utcnow
from inkwell.posts.models import Post, PostRecord
from inkwell.users.models import User, UserRecord

_sequence = count(1)
_USERS = table_of(User)
_POSTS = table_of(Post)


def unique_email() -> str:
    return f"user{next(_sequence)}@example.com"


async def make_user(target: AsyncSession | Transaction, **fields: object) -> UserRecord:
    values: dict[str, object] = {"email": unique_email(), "name": "Ada Lovelace", **fields}
    return record(await _insert(target, insert(_USERS).returning(*_USERS.c), values), UserRecord)


async def make_post(target: AsyncSession | Transaction, author: UserRecord, **fields: object) -> PostRecord:
    values: dict[str, object] = {"title": "On engines", "body": "Notes.", "author_id": author.id, **fields}
    return record(await _insert(target, insert(_POSTS).returning(*_POSTS.c), values), PostRecord)


async def _insert(target: AsyncSession | Transaction, statement: Insert, values: dict[str, object]) -> Any:
    now = utcnow()
    values = {"created_at": now, "updated_at": now, **values}
    if isinstance(target, Transaction):
        return (await target.connection.execute(statement, values)).one()
    row = (await target.execute(statement, values)).one()
    await target.commit()
    return row


def tags(record_id: int, *versions: int) -> IfMatch:
    """An If-Match header naming these versions of the record, as a route receives it."""
    return IfMatch(frozenset((record_id, version) for version in versions))
