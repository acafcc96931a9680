"""Idempotency keys: claim one for a request, keep its response, find it again, forget expired ones."""

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.db import rowcount
from inkwell.idempotency.models import IdempotencyKey


async def find_key(
    session: AsyncSession, *, scope: str, key: str, latest: bool = False
) -> IdempotencyKey | None:
    """The stored key; with `latest`, as last committed even if this transaction's snapshot is older.

    A locking read sees the latest committed row on every database (MariaDB's plain reads keep to the
    transaction's snapshot); it is only used once the row is known to exist, so it locks just that row.
    """
    query = select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    if latest:
        query = query.with_for_update(read=True).execution_options(populate_existing=True)
    return await session.scalar(query)


async def claim_key(
    session: AsyncSession, *, scope: str, key: str, fingerprint: str, expires_at: datetime
) -> IdempotencyKey | None:
    """Insert the key for this request, or None when another request holds it.

    The unique constraint on (scope, key) decides: a second insert waits for the first transaction and
    fails once it commits. The insert runs in a savepoint so that the failure leaves this transaction
    usable (PostgreSQL aborts a transaction on any error otherwise).
    """
    record = IdempotencyKey(scope=scope, key=key, fingerprint=fingerprint, expires_at=expires_at)
    try:
        async with session.begin_nested():
            session.add(record)
    except IntegrityError:
        return None
    return record


async def forget_key(session: AsyncSession, record: IdempotencyKey) -> None:
    """Delete an expired key (by id, so that it locks only that row) before it is claimed afresh."""
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == record.id))
    session.expunge(record)


def keep_response(record: IdempotencyKey, *, status_code: int, body: str, etag: str | None) -> None:
    """Store the response of the request that claimed the key; it is committed with that request."""
    record.status_code = status_code
    record.response_body = body
    record.etag = etag


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Delete every key that expired before `now`; the number deleted."""
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now))
    return rowcount(result)


def expiry(now: datetime, ttl_seconds: float) -> datetime:
    return now + timedelta(seconds=ttl_seconds)
