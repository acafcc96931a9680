"""The outbox: jobs are written with the change that calls for them, then claimed, run and settled.

Every state change is one conditional UPDATE, so that workers racing for a job (several processes,
several hosts) settle it exactly once on every supported database.
"""

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.db import rowcount
from inkwell.jobs.models import ERROR_LENGTH, JobStatus, OutboxJob
from inkwell.orm import utcnow
from inkwell.tracing import current_traceparent


async def enqueue(session: AsyncSession, name: str, payload: dict[str, Any]) -> OutboxJob:
    """Add a job to the session's transaction: it exists if and only if the transaction commits.

    The job keeps the trace context of the span running now (the request's), for its own to link to.
    """
    job = OutboxJob(
        name=name,
        payload=json.dumps(payload),
        status=JobStatus.PENDING,
        available_at=utcnow(),
        traceparent=current_traceparent(),
    )
    session.add(job)
    await session.flush()
    return job


def payload_of(job: OutboxJob) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(job.payload)
    return payload


def _unlocked(now: datetime) -> Any:
    return or_(OutboxJob.locked_until.is_(None), OutboxJob.locked_until < now)


async def due_job_ids(session: AsyncSession, *, now: datetime, limit: int) -> list[int]:
    """Pending jobs whose time has come and that no live attempt holds, oldest first."""
    query = (
        select(OutboxJob.id)
        .where(OutboxJob.status == JobStatus.PENDING, OutboxJob.available_at <= now, _unlocked(now))
        .order_by(OutboxJob.available_at, OutboxJob.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def claim(session: AsyncSession, job_id: int, *, now: datetime, lease: timedelta) -> OutboxJob | None:
    """Start an attempt: count it and hold the job for `lease`. None when it is finished or held."""
    claimed = await _update(
        session,
        (OutboxJob.id == job_id, OutboxJob.status == JobStatus.PENDING, _unlocked(now)),
        attempts=OutboxJob.attempts + 1,
        locked_until=now + lease,
        updated_at=now,
    )
    if not claimed:
        return None
    return await session.get(OutboxJob, job_id, populate_existing=True)


async def is_finished(session: AsyncSession, job_id: int) -> bool:
    status = await session.scalar(select(OutboxJob.status).where(OutboxJob.id == job_id))
    return status != JobStatus.PENDING


async def mark_done(session: AsyncSession, job_id: int) -> None:
    now = utcnow()
    await _update(
        session,
        (OutboxJob.id == job_id,),
        status=JobStatus.DONE,
        locked_until=None,
        finished_at=now,
        updated_at=now,
        last_error=None,
    )


async def mark_failed(session: AsyncSession, job_id: int, *, error: str, retry_at: datetime | None) -> None:
    """Record a failed attempt: try again at `retry_at`, or give up (dead) when it is None."""
    now = utcnow()
    settled: dict[str, Any] = (
        {"status": JobStatus.DEAD, "finished_at": now} if retry_at is None else {"available_at": retry_at}
    )
    await _update(
        session,
        (OutboxJob.id == job_id, OutboxJob.status == JobStatus.PENDING),
        locked_until=None,
        last_error=error[:ERROR_LENGTH],
        updated_at=now,
        **settled,
    )


async def unpublished_job_ids(session: AsyncSession, *, limit: int) -> list[int]:
    """Pending jobs not handed to the queue yet, oldest first."""
    query = (
        select(OutboxJob.id)
        .where(OutboxJob.status == JobStatus.PENDING, OutboxJob.published_at.is_(None))
        .order_by(OutboxJob.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def published_job_ids(session: AsyncSession, *, before: datetime, limit: int) -> list[int]:
    """Pending jobs handed to the queue before `before`, the longest unfinished first."""
    query = (
        select(OutboxJob.id)
        .where(OutboxJob.status == JobStatus.PENDING, OutboxJob.published_at < before)
        .order_by(OutboxJob.published_at, OutboxJob.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


def _unpublished(stale_before: datetime) -> Any:
    return or_(OutboxJob.published_at.is_(None), OutboxJob.published_at < stale_before)


async def claim_publication(
    session: AsyncSession, job_id: int, *, now: datetime, stale_before: datetime
) -> bool:
    """Take the right to hand a job to the queue, so that racing relays hand it over once."""
    return await _update(
        session,
        (OutboxJob.id == job_id, OutboxJob.status == JobStatus.PENDING, _unpublished(stale_before)),
        published_at=now,
    )


async def forget_publication(session: AsyncSession, job_id: int) -> None:
    """The queue could not take the job: let the next relay pass hand it over again."""
    await _update(session, (OutboxJob.id == job_id,), published_at=None)


async def delete_finished(session: AsyncSession, *, before: datetime) -> int:
    """Drop done and dead jobs that finished before `before`; returns how many."""
    result = await session.execute(
        delete(OutboxJob).where(
            OutboxJob.status.in_([JobStatus.DONE, JobStatus.DEAD]), OutboxJob.finished_at < before
        )
    )
    return rowcount(result)


async def list_jobs(session: AsyncSession, *, status: JobStatus | None, limit: int) -> Sequence[OutboxJob]:
    query = select(OutboxJob).order_by(OutboxJob.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboxJob.status == status)
    return list(await session.scalars(query))


async def revive(session: AsyncSession, job_id: int) -> bool:
    """Give a dead job a fresh set of attempts; False when there is no dead job with that id."""
    now = utcnow()
    return await _update(
        session,
        (OutboxJob.id == job_id, OutboxJob.status == JobStatus.DEAD),
        status=JobStatus.PENDING,
        attempts=0,
        available_at=now,
        published_at=None,
        finished_at=None,
        updated_at=now,
    )


async def _update(session: AsyncSession, conditions: tuple[Any, ...], **values: Any) -> bool:
    result = await session.execute(
        update(OutboxJob).where(*conditions).values(**values).execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1
