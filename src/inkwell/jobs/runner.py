"""Running one attempt of an outbox job, and the in-process runner used when Redis is not configured."""

import asyncio
import contextlib
import logging
import random
from datetime import timedelta
from enum import StrEnum

from inkwell.jobs import service
from inkwell.jobs.context import JobContext, PermanentJobError
from inkwell.jobs.models import OutboxJobRecord
from inkwell.orm import utcnow
from inkwell.tracing import failed, job_span

logger = logging.getLogger(__name__)

BATCH_SIZE = 100


class Outcome(StrEnum):
    DONE = "done"
    RETRY = "retry"  # failed; another attempt is due later
    DEAD = "dead"  # failed for the last time
    FINISHED = "finished"  # already done or dead: nothing to do
    BUSY = "busy"  # another attempt holds it right now


def retry_delay(ctx: JobContext, attempts: int) -> float:
    """Exponential backoff with full jitter, as the queue (saq) computes it: up to the base delay after
    the first attempt, twice that after the second, and so on, never past the maximum."""
    settings = ctx.settings
    ceiling = min(settings.job_retry_max_delay, settings.job_retry_delay * 2.0 ** max(attempts - 1, 0))
    return ceiling * random.random()  # noqa: S311 (spreading retries, not a secret)


async def attempt(ctx: JobContext, job_id: int) -> Outcome:
    """Claim the job, run it once, and record how it went. Safe to call from any number of workers."""
    async with ctx.database.transaction() as tx:
        job = await service.claim(tx, job_id, now=utcnow(), lease=lease(ctx))
        if job is None:
            return Outcome.FINISHED if await service.is_finished(tx, job_id) else Outcome.BUSY
    with job_span(
        ctx.tracer, job.name, job_id=job.id, attempt=job.attempts, traceparent=job.traceparent
    ) as span:
        outcome = await _run(ctx, job)
        span.set_attribute("inkwell.job.outcome", outcome.value)
    return outcome


async def _run(ctx: JobContext, job: OutboxJobRecord) -> Outcome:
    handler = ctx.handlers.get(job.name)
    try:
        if handler is None:
            raise PermanentJobError(f"no job is called {job.name!r}")
        async with asyncio.timeout(ctx.settings.job_timeout):
            await handler(ctx, service.payload_of(job))
    except Exception as exc:
        failed(exc)
        return await _record_failure(ctx, job, exc)
    async with ctx.database.transaction() as tx:
        await service.mark_done(tx, job.id)
    logger.info("job %d (%s) done after %d attempt(s)", job.id, job.name, job.attempts)
    return Outcome.DONE


def lease(ctx: JobContext) -> timedelta:
    # A little longer than the job may run, so that only a dead worker's attempt ever lapses.
    return timedelta(seconds=ctx.settings.job_timeout + 2)


async def _record_failure(ctx: JobContext, job: OutboxJobRecord, exc: Exception) -> Outcome:
    error = _describe(exc)
    final = isinstance(exc, PermanentJobError) or job.attempts >= ctx.settings.job_max_attempts
    retry_at = None if final else utcnow() + timedelta(seconds=retry_delay(ctx, job.attempts))
    async with ctx.database.transaction() as tx:
        await service.mark_failed(tx, job.id, error=error, retry_at=retry_at)
    if final:
        logger.error("job %d (%s) gave up after %d attempt(s): %s", job.id, job.name, job.attempts, error)
        return Outcome.DEAD
    logger.warning("job %d (%s) attempt %d failed, will retry: %s", job.id, job.name, job.attempts, error)
    return Outcome.RETRY


def _describe(exc: Exception) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return "TimeoutError: the job ran past INKWELL_JOB_TIMEOUT"
    return f"{type(exc).__name__}: {exc}"


class OutboxRunner:
    """Runs due jobs straight from the outbox, a few at a time, until stopped.

    Used without Redis, in the API process and in `inkwell worker`. Several runners (processes or hosts)
    may share one database: claims decide which of them runs each attempt.
    """

    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self._slots = asyncio.Semaphore(ctx.settings.worker_concurrency)
        self._running: set[asyncio.Task[Outcome]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_due_jobs()
            except Exception:
                # The database is away or busy: the jobs are still in it, try again on the next pass.
                logger.warning("the job runner could not reach the database; retrying", exc_info=True)
            await sleep_unless_stopped(stop, self.ctx.settings.job_poll_interval)
        await self.drain()

    async def run_due_jobs(self) -> None:
        async with self.ctx.database.reads() as tx:
            job_ids = await service.due_job_ids(tx, now=utcnow(), limit=BATCH_SIZE)
        for job_id in job_ids:
            await self._slots.acquire()
            task = asyncio.create_task(self._attempt(job_id))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _attempt(self, job_id: int) -> Outcome:
        try:
            return await attempt(self.ctx, job_id)
        finally:
            self._slots.release()

    async def drain(self) -> None:
        """Wait for the attempts in flight (a stopping worker lets its jobs finish)."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
