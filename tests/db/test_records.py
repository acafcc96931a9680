"""Rows read as records: each column to the field of its name, and timestamps in UTC on every database."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from inkwell.orm import records
from inkwell.users.models import User, UserRecord
from tests.databases import Backend

USERS = cast(Table, User.__table__)
WRITTEN = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))


async def _insert_user(connection: AsyncConnection, email: str, **values: Any) -> int:
    row = {"email": email, "name": "Record Probe", "created_at": WRITTEN, "updated_at": WRITTEN, **values}
    result = await connection.execute(insert(USERS).values(row))
    new_id = result.inserted_primary_key
    assert new_id is not None
    return int(new_id[0])


async def test_columns_in_any_order_reach_the_fields_of_their_names(connection: AsyncConnection) -> None:
    user_id = await _insert_user(connection, "records-order@example.com", bio="a bio", is_admin=True)
    in_table_order = select(USERS).where(USERS.c.id == user_id)
    reversed_order = select(*reversed(USERS.c)).where(USERS.c.id == user_id)

    expected = records(await connection.execute(in_table_order), UserRecord)
    found = records(await connection.execute(reversed_order), UserRecord)

    assert found == expected
    assert (found[0].id, found[0].email, found[0].bio, found[0].is_admin) == (
        user_id,
        "records-order@example.com",
        "a bio",
        True,
    )


async def test_timestamps_read_back_as_the_same_instant_in_utc(
    connection: AsyncConnection, backend: Backend
) -> None:
    if backend.name == "postgresql":
        # The session's zone must not matter: the driver reads `timestamptz` as UTC whatever it is.
        await connection.execute(text("SET LOCAL TIME ZONE 'Asia/Kolkata'"))
    user_id = await _insert_user(connection, "records-utc@example.com", email_verified_at=WRITTEN)

    (user,) = records(await connection.execute(select(USERS).where(USERS.c.id == user_id)), UserRecord)

    for value in (user.created_at, user.updated_at, user.email_verified_at):
        assert value is not None
        assert value == WRITTEN
        assert value.tzinfo == UTC
        assert value.isoformat() == "2026-03-28T20:00:15.123456+00:00"
