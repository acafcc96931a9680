"""The Redis job queue (saq): the relay hands outbox jobs to it, and `inkwell worker` runs them.

The outbox stays the job's record: saq brings the distribution over workers and hosts, the retries
with backoff, and the sweep that re-runs the job of a worker that died. A job is handed over under a
key made from its outbox id, so a second hand-over of a job still in the queue is a no-op, and a run
of a job already done does nothing (`attempt` checks the outbox first); so a relay may hand over
again whatever the queue does not hold unfinished.
"""

import asyncio
import logging
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from saq import Job, Worker
from saq.job import TERMINAL_STATUSES
from saq.queue.redis import RedisQueue
from saq.types import Context, Function

from inkwell.config import Settings
from inkwell.jobs import service
from inkwell.jobs.context import JobContext
from inkwell.jobs.runner import BATCH_SIZE, Outcome, attempt, sleep_unless_stopped
from inkwell.orm import utcnow

logger = logging.getLogger(__name__)

QUEUE_FUNCTION = "outbox"


class AttemptFailed(Exception):
    """Tells saq that the attempt failed, so that it retries it with backoff (or gives up)."""


def create_queue(settings: Settings, redis: Redis) -> RedisQueue:
    return RedisQueue(redis, name=settings.redis_prefix)


def queue_job(settings: Settings, job_id: int) -> Job:
    return Job(
        function=QUEUE_FUNCTION,
        kwargs={"outbox_id": job_id},
        key=f"{settings.redis_prefix}:outbox:{job_id}",
        retries=settings.job_max_attempts,
        retry_delay=settings.job_retry_delay,
        retry_backoff=settings.job_retry_max_delay,
        # Past `attempt`'s own timeout, so that saq sweeps only the job of a worker that died.
        timeout=settings.job_timeout + 5,
    )


def handover_grace(settings: Settings) -> timedelta:
    """How long after its hand-over a job must be in the queue (a relay claims, then enqueues)."""
    return timedelta(seconds=max(1.0, 2 * settings.job_poll_interval))


def queue_function(ctx: JobContext) -> Function[Context]:
    async def run_outbox_job(saq_ctx: Context, *, outbox_id: int) -> str:
        outcome = await attempt(ctx, outbox_id)
        if outcome is Outcome.DEAD and "job" in saq_ctx:
            # The outbox gave up on it: make saq record it as failed instead of trying again.
            saq_ctx["job"].retries = saq_ctx["job"].attempts
        if outcome in (Outcome.RETRY, Outcome.DEAD, Outcome.BUSY):
            raise AttemptFailed(f"outbox job {outbox_id}: {outcome}")
        return outcome.value

    return run_outbox_job


class Relay:
    """Hands pending outbox jobs to the queue, from every `inkwell worker`; claims keep it to one each."""

    def __init__(self, ctx: JobContext, queue: RedisQueue) -> None:
        self.ctx = ctx
        self.queue = queue

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.publish_pending()
            except Exception:
                logger.warning("the relay could not hand jobs to the queue; retrying", exc_info=True)
            await sleep_unless_stopped(stop, self.ctx.settings.job_poll_interval)

    async def publish_pending(self) -> int:
        """Hand over new jobs, and again those the queue no longer holds unfinished (a Redis that
        restarted without its data, or a job saq gave up on without the outbox knowing)."""
        now = utcnow()
        stale_before = now - handover_grace(self.ctx.settings)
        async with self.ctx.database.reads() as tx:
            new = await service.unpublished_job_ids(tx, limit=BATCH_SIZE)
            handed = await service.published_job_ids(tx, before=stale_before, limit=BATCH_SIZE)
        lost = await self._not_in_queue(handed)
        published = 0
        for job_id in [*new, *lost]:
            async with self.ctx.database.transaction() as tx:
                claimed = await service.claim_publication(tx, job_id, now=now, stale_before=stale_before)
            if claimed:
                await self._publish(job_id)
                published += 1
        return published

    async def _not_in_queue(self, job_ids: list[int]) -> list[int]:
        if not job_ids:
            return []
        keys = [queue_job(self.ctx.settings, job_id).key for job_id in job_ids]
        found = await self.queue.jobs(keys)
        return [
            job_id
            for job_id, job in zip(job_ids, found, strict=True)
            if job is None or job.status in TERMINAL_STATUSES
        ]

    async def _publish(self, job_id: int) -> None:
        try:
            await self.queue.enqueue(queue_job(self.ctx.settings, job_id))
        except (RedisError, OSError):
            async with self.ctx.database.transaction() as tx:
                await service.forget_publication(tx, job_id)
            raise


def create_worker(ctx: JobContext, queue: RedisQueue) -> Worker[Context]:
    settings = ctx.settings
    worker_kwargs: dict[str, Any] = {
        "concurrency": settings.worker_concurrency,
        # Upkeep tasks sleep between rounds, and a stopping worker waits for them: keep the rounds short.
        "timers": {"sweep": settings.job_sweep_interval, "worker_info": 2},
        # A stopping worker lets the attempts in flight finish (they are bounded by the job timeout).
        "shutdown_grace_period_s": settings.job_timeout + 5,
        "dequeue_timeout": 1.0,
    }
    return Worker(queue, functions=[(QUEUE_FUNCTION, queue_function(ctx))], **worker_kwargs)
