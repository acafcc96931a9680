"""The outbox: jobs are written with the change that calls for them, then claimed, run and settled.

Every state change is one conditional UPDATE, so that workers racing for a job (several processes,
several hosts) settle it exactly once on every supported database.
"""

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, or_, select, update

from inkwell.db import Transaction, rowcount
from inkwell.jobs.models import ERROR_LENGTH, JobStatus, OutboxJob, OutboxJobRecord
from inkwell.orm import record, records, table_of, utcnow
from inkwell.tracing import current_traceparent

_JOBS = table_of(OutboxJob)


async def enqueue(tx: Transaction, name: str, payload: dict[str, Any], *, user_id: int | None = None) -> int:
    """Add a job to the transaction: it exists if and only if the transaction commits; its id.

    A job for an account (`user_id`) is withdrawn if the account is deleted before it runs. The job keeps
    the trace context of the span running now (the request's), for its own to link to.
    """
    now = utcnow()
    values = {
        "name": name,
        "payload": json.dumps(payload),
        "user_id": user_id,
        "status": JobStatus.PENDING,
        "attempts": 0,
        "available_at": now,
        "created_at": now,
        "updated_at": now,
        "traceparent": current_traceparent(),
    }
    result = await tx.connection.execute(insert(_JOBS), values)
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


async def withdraw(tx: Transaction, *, user_id: int, names: Sequence[str]) -> int:
    """Delete the pending jobs of these names for the user's account: they are never run; how many."""
    pending = (_JOBS.c.user_id == user_id, _JOBS.c.name.in_(names), _JOBS.c.status == JobStatus.PENDING)
    return rowcount(await tx.connection.execute(delete(_JOBS).where(*pending)))


def payload_of(job: OutboxJobRecord) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(job.payload)
    return payload


def _unlocked(now: datetime) -> ColumnElement[bool]:
    return or_(_JOBS.c.locked_until.is_(None), _JOBS.c.locked_until < now)


async def due_job_ids(tx: Transaction, *, now: datetime, limit: int) -> list[int]:
    """Pending jobs whose time has come and that no live attempt holds, oldest first."""
    query = (
        select(_JOBS.c.id)
        .where(_JOBS.c.status == JobStatus.PENDING, _JOBS.c.available_at <= now, _unlocked(now))
        .order_by(_JOBS.c.available_at, _JOBS.c.id)
        .limit(limit)
    )
    return list(await tx.connection.scalars(query))


async def get_job(tx: Transaction, job_id: int) -> OutboxJobRecord | None:
    row = (await tx.connection.execute(select(_JOBS).where(_JOBS.c.id == job_id))).first()
    return None if row is None else record(row, OutboxJobRecord)


async def claim(tx: Transaction, job_id: int, *, now: datetime, lease: timedelta) -> OutboxJobRecord | None:
    """Start an attempt: count it and hold the job for `lease`. None when it is finished or held."""
    claimed = await _update(
        tx,
        (_JOBS.c.id == job_id, _JOBS.c.status == JobStatus.PENDING, _unlocked(now)),
        attempts=_JOBS.c.attempts + 1,
        locked_until=now + lease,
        updated_at=now,
    )
    return await get_job(tx, job_id) if claimed else None


async def is_finished(tx: Transaction, job_id: int) -> bool:
    """Whether the job is done or dead, or gone (withdrawn with its account, or purged)."""
    status = await tx.connection.scalar(select(_JOBS.c.status).where(_JOBS.c.id == job_id))
    return status != JobStatus.PENDING


async def mark_done(tx: Transaction, job_id: int) -> None:
    now = utcnow()
    await _update(
        tx,
        (_JOBS.c.id == job_id,),
        status=JobStatus.DONE,
        locked_until=None,
        finished_at=now,
        updated_at=now,
        last_error=None,
    )


async def mark_failed(tx: Transaction, job_id: int, *, error: str, retry_at: datetime | None) -> None:
    """Record a failed attempt: try again at `retry_at`, or give up (dead) when it is None."""
    now = utcnow()
    settled: dict[str, Any] = (
        {"status": JobStatus.DEAD, "finished_at": now} if retry_at is None else {"available_at": retry_at}
    )
    await _update(
        tx,
        (_JOBS.c.id == job_id, _JOBS.c.status == JobStatus.PENDING),
        locked_until=None,
        last_error=error[:ERROR_LENGTH],
        updated_at=now,
        **settled,
    )


async def unpublished_job_ids(tx: Transaction, *, limit: int) -> list[int]:
    """Pending jobs not handed to the queue yet, oldest first."""
    query = (
        select(_JOBS.c.id)
        .where(_JOBS.c.status == JobStatus.PENDING, _JOBS.c.published_at.is_(None))
        .order_by(_JOBS.c.id)
        .limit(limit)
    )
    return list(await tx.connection.scalars(query))


async def published_job_ids(tx: Transaction, *, before: datetime, limit: int) -> list[int]:
    """Pending jobs handed to the queue before `before`, the longest unfinished first."""
    query = (
        select(_JOBS.c.id)
        .where(_JOBS.c.status == JobStatus.PENDING, _JOBS.c.published_at < before)
        .order_by(_JOBS.c.published_at, _JOBS.c.id)
        .limit(limit)
    )
    return list(await tx.connection.scalars(query))


def _unpublished(stale_before: datetime) -> ColumnElement[bool]:
    return or_(_JOBS.c.published_at.is_(None), _JOBS.c.published_at < stale_before)


async def claim_publication(tx: Transaction, job_id: int, *, now: datetime, stale_before: datetime) -> bool:
    """Take the right to hand a job to the queue, so that racing relays hand it over once."""
    return await _update(
        tx,
        (_JOBS.c.id == job_id, _JOBS.c.status == JobStatus.PENDING, _unpublished(stale_before)),
        published_at=now,
    )


async def forget_publication(tx: Transaction, job_id: int) -> None:
    """The queue could not take the job: let the next relay pass hand it over again."""
    await _update(tx, (_JOBS.c.id == job_id,), published_at=None)


async def delete_finished(tx: Transaction, *, before: datetime) -> int:
    """Drop done and dead jobs that finished before `before`; returns how many."""
    finished = _JOBS.c.status.in_([JobStatus.DONE, JobStatus.DEAD])
    return rowcount(await tx.connection.execute(delete(_JOBS).where(finished, _JOBS.c.finished_at < before)))


async def list_jobs(tx: Transaction, *, status: JobStatus | None, limit: int) -> Sequence[OutboxJobRecord]:
    query = select(_JOBS).order_by(_JOBS.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(_JOBS.c.status == status)
    return records(await tx.connection.execute(query), OutboxJobRecord)


async def revive(tx: Transaction, job_id: int) -> bool:
    """Give a dead job a fresh set of attempts; False when there is no dead job with that id."""
    now = utcnow()
    return await _update(
        tx,
        (_JOBS.c.id == job_id, _JOBS.c.status == JobStatus.DEAD),
        status=JobStatus.PENDING,
        attempts=0,
        available_at=now,
        published_at=None,
        finished_at=None,
        updated_at=now,
    )


async def _update(tx: Transaction, conditions: tuple[ColumnElement[bool], ...], **values: Any) -> bool:
    result = await tx.connection.execute(update(_JOBS).where(*conditions).values(**values))
    return rowcount(result) == 1
