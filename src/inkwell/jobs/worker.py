"""`inkwell worker`: runs background jobs until SIGTERM or SIGINT.

With `INKWELL_REDIS_URL` it is a saq worker of the Redis queue plus a relay from the outbox (run as many
as you like, on as many hosts); without it, it runs jobs straight from the outbox, as the API does.
"""

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from inkwell.cache.invalidation import open_cached_database
from inkwell.config import Settings
from inkwell.jobs.context import JobContext
from inkwell.jobs.queue import Relay, create_queue, create_worker
from inkwell.jobs.runner import OutboxRunner
from inkwell.mail.sender import create_mailer
from inkwell.redis_client import create_redis

logger = logging.getLogger(__name__)


@asynccontextmanager
async def job_context(settings: Settings) -> AsyncIterator[JobContext]:
    async with open_cached_database(settings) as database:
        yield JobContext(settings, database, create_mailer(settings))


async def run_worker(settings: Settings) -> None:
    async with job_context(settings) as ctx:
        if settings.redis_url is None:
            await run_outbox_worker(ctx)
        else:
            await run_queue_worker(ctx)


async def run_outbox_worker(ctx: JobContext) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    logger.info("worker started: running jobs from the outbox (INKWELL_REDIS_URL is unset)")
    await OutboxRunner(ctx).run(stop)
    logger.info("worker stopped")


async def run_queue_worker(ctx: JobContext) -> None:
    redis = create_redis(ctx.settings, timeout=None)
    assert redis is not None
    queue = create_queue(ctx.settings, redis)
    worker = create_worker(ctx, queue)  # it stops on SIGINT and SIGTERM by itself
    stop_relay = asyncio.Event()
    relay = asyncio.create_task(Relay(ctx, queue).run(stop_relay))
    logger.info("worker started: running jobs from the Redis queue %r", queue.name)
    try:
        await queue.connect()
        await worker.start()
    finally:
        stop_relay.set()
        await relay
        await queue.disconnect()
    logger.info("worker stopped")
