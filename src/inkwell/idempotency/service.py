"""Idempotency keys: claim one for a request, keep its response, find it again, forget expired ones."""

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from inkwell.db import Transaction, rowcount
from inkwell.idempotency.models import IdempotencyKey, IdempotencyKeyRecord
from inkwell.orm import record, table_of

_KEYS = table_of(IdempotencyKey)
_FIND = select(_KEYS).where(_KEYS.c.scope == bindparam("scope"), _KEYS.c.key == bindparam("key"))
# A locking read sees the latest committed row on every database (MariaDB's plain reads keep to the
# transaction's snapshot); it is only used once the row is known to exist, so it locks just that row.
_FIND_LATEST = _FIND.with_for_update(read=True)


async def find_key(
    tx: Transaction, *, scope: str, key: str, latest: bool = False
) -> IdempotencyKeyRecord | None:
    """The stored key; with `latest`, as last committed even if this transaction's snapshot is older."""
    row = (
        await tx.connection.execute(_FIND_LATEST if latest else _FIND, {"scope": scope, "key": key})
    ).first()
    return None if row is None else record(row, IdempotencyKeyRecord)


async def claim_key(
    tx: Transaction, *, scope: str, key: str, user_id: int | None, fingerprint: str, expires_at: datetime
) -> int | None:
    """Insert the key for this request: its id, or None when another request holds it.

    The unique constraint on (scope, key) decides: a second insert waits for the first transaction and
    fails once it commits. The insert runs in a savepoint so that the failure leaves this transaction
    usable (PostgreSQL aborts a transaction on any error otherwise).
    """
    values = {
        "scope": scope,
        "key": key,
        "user_id": user_id,
        "fingerprint": fingerprint,
        "expires_at": expires_at,
    }
    try:
        async with tx.connection.begin_nested():
            result = await tx.connection.execute(insert(_KEYS), values)
    except IntegrityError:
        return None
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


async def forget_key(tx: Transaction, key_id: int) -> None:
    """Delete an expired key (by id, so that it locks only that row) before it is claimed afresh."""
    await tx.connection.execute(delete(_KEYS).where(_KEYS.c.id == key_id))


async def keep_response(
    tx: Transaction, key_id: int, *, status_code: int, body: str, etag: str | None
) -> None:
    """Store the response of the request that claimed the key; it is committed with that request."""
    values = {"status_code": status_code, "response_body": body, "etag": etag}
    await tx.connection.execute(update(_KEYS).where(_KEYS.c.id == key_id).values(values))


async def purge_expired(tx: Transaction, *, now: datetime) -> int:
    """Delete every key that expired before `now`; the number deleted."""
    return rowcount(await tx.connection.execute(delete(_KEYS).where(_KEYS.c.expires_at <= now)))


def expiry(now: datetime, ttl_seconds: float) -> datetime:
    return now + timedelta(seconds=ttl_seconds)
