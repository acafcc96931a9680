"""The Redis queue (saq): the relay from the outbox, and workers running the jobs, on a real Redis."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr
from redis.exceptions import ConnectionError as RedisConnectionError
from saq import Status
from saq.queue.redis import RedisQueue

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.jobs.context import JobContext
from inkwell.jobs.models import JobStatus
from inkwell.jobs.queue import Relay, create_queue, create_worker, handover_grace, queue_job
from inkwell.redis_client import create_redis
from tests.jobs.helpers import enqueue_mail, job_context, job_settings, outbox_row
from tests.processes import free_port
from tests.smtp import MailSink


@pytest.fixture
def ctx(
    settings: Settings, committed_database: Database, mail: MailSink, redis_server: str, redis_prefix: str
) -> JobContext:
    redis_settings = job_settings(
        settings, mail.url, redis_url=SecretStr(redis_server), redis_prefix=redis_prefix
    )
    return job_context(redis_settings, committed_database)


@pytest.fixture
async def queue(ctx: JobContext) -> AsyncIterator[RedisQueue]:
    redis = create_redis(ctx.settings, timeout=None)
    assert redis is not None
    queue = create_queue(ctx.settings, redis)
    await queue.connect()
    yield queue
    await queue.disconnect()


@asynccontextmanager
async def working(ctx: JobContext, queue: RedisQueue) -> AsyncIterator[None]:
    """A saq worker and a relay, in this process."""
    worker = create_worker(ctx, queue)
    worker.dequeue_timeout = 0.1
    stop_relay = asyncio.Event()
    tasks = [asyncio.create_task(worker.start()), asyncio.create_task(Relay(ctx, queue).run(stop_relay))]
    try:
        yield
    finally:
        stop_relay.set()
        await worker.stop()
        await asyncio.gather(*tasks)


async def test_the_relay_hands_each_pending_job_to_the_queue_once(
    ctx: JobContext, queue: RedisQueue, committed_database: Database
) -> None:
    job_ids = [await enqueue_mail(committed_database) for _ in range(3)]
    relay = Relay(ctx, queue)

    assert await relay.publish_pending() == 3
    assert await relay.publish_pending() == 0
    assert await queue.count("queued") == 3
    for job_id in job_ids:
        assert (await outbox_row(committed_database, job_id)).published_at is not None


async def test_a_queue_worker_sends_the_mail_and_marks_the_job_done(
    ctx: JobContext, queue: RedisQueue, mail: MailSink, committed_database: Database
) -> None:
    job_id = await enqueue_mail(committed_database, to="queued@example.com")

    async with working(ctx, queue):
        [message] = await mail.wait_for(1)
        saq_job = await queue.job(queue_job(ctx.settings, job_id).key)
        assert saq_job is not None
        await saq_job.refresh(until_complete=30)

    assert message["To"] == "queued@example.com"
    assert saq_job.status is Status.COMPLETE
    job = await outbox_row(committed_database, job_id)
    assert (job.status, job.attempts) == (JobStatus.DONE, 1)


async def test_a_job_handed_over_again_is_not_sent_again(
    ctx: JobContext, queue: RedisQueue, mail: MailSink, committed_database: Database
) -> None:
    job_id = await enqueue_mail(committed_database)
    first = await queue.enqueue(queue_job(ctx.settings, job_id))
    assert first is not None
    assert await queue.enqueue(queue_job(ctx.settings, job_id)) is None  # still queued: the same key

    async with working(ctx, queue):
        await first.refresh(until_complete=30)
        assert first.status is Status.COMPLETE
        again = await queue.enqueue(queue_job(ctx.settings, job_id))  # done by now: runs, sends nothing
        assert again is not None
        await again.refresh(until_complete=30)

    assert (first.result, again.result) == ("done", "finished")
    assert len(mail.messages) == 1


async def test_failed_attempts_are_retried_and_the_last_one_fails_the_queue_job(
    ctx: JobContext, queue: RedisQueue, mail: MailSink, committed_database: Database
) -> None:
    async def later() -> str:
        return "451 4.3.0 Try again later"

    mail.replies.extend([later] * 3)
    job_id = await enqueue_mail(committed_database)

    async with working(ctx, queue):
        await mail.wait_for_attempts(3)
        saq_job = await queue.job(queue_job(ctx.settings, job_id).key)
        assert saq_job is not None
        await saq_job.refresh(until_complete=30)
        await asyncio.sleep(0.3)  # a fourth attempt would come now

    assert saq_job.status is Status.FAILED
    job = await outbox_row(committed_database, job_id)
    assert (job.status, job.attempts, mail.attempts, mail.messages) == (JobStatus.DEAD, 3, 3, [])


async def test_a_job_the_queue_lost_is_handed_over_again(
    ctx: JobContext, queue: RedisQueue, mail: MailSink, committed_database: Database
) -> None:
    await enqueue_mail(committed_database)
    relay = Relay(ctx, queue)
    await relay.publish_pending()
    await asyncio.sleep(handover_grace(ctx.settings).total_seconds())
    assert await relay.publish_pending() == 0  # still in the queue

    await queue.redis.delete(*[key async for key in queue.redis.scan_iter(f"*{ctx.settings.redis_prefix}*")])

    assert await relay.publish_pending() == 1
    async with working(ctx, queue):
        await mail.wait_for(1)


async def test_a_relay_that_cannot_reach_redis_leaves_the_job_for_the_next_pass(
    ctx: JobContext, committed_database: Database
) -> None:
    away = ctx.settings.model_copy(update={"redis_url": SecretStr(f"redis://127.0.0.1:{free_port()}/0")})
    redis = create_redis(away, timeout=None)
    assert redis is not None
    job_id = await enqueue_mail(committed_database)

    with pytest.raises(RedisConnectionError):
        await Relay(ctx, create_queue(away, redis)).publish_pending()
    await redis.aclose()

    assert (await outbox_row(committed_database, job_id)).published_at is None
