"""`inkwell worker`: runs background jobs until SIGTERM or SIGINT.

With `INKWELL_REDIS_URL` it is a saq worker of the Redis queue plus a relay from the outbox (run as many
as you like, on as many hosts); without it, it runs jobs straight from the outbox, as the API does.
"""

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from inkwell.config import Settings
from inkwell.db import open_database
from inkwell.jobs.context import JobContext, JobHandler
from inkwell.jobs.queue import Relay, create_queue, create_worker
from inkwell.jobs.runner import OutboxRunner
from inkwell.mail.sender import create_mailer
from inkwell.redis_client import create_redis
from inkwell.tracing import Tracing, start_tracing, tracer_of

logger = logging.getLogger(__name__)


@asynccontextmanager
async def job_context(
    settings: Settings, handlers: Mapping[str, JobHandler], tracing: Tracing | None = None
) -> AsyncIterator[JobContext]:
    """What jobs run with; with `tracing`, each attempt and what it does is traced."""
    tracer = tracer_of(tracing)
    async with open_database(settings, tracing=tracing) as database:
        yield JobContext(settings, database, create_mailer(settings, tracer=tracer), handlers, tracer)


async def run_worker(settings: Settings, handlers: Mapping[str, JobHandler]) -> None:
    tracing = start_tracing(settings)
    try:
        async with job_context(settings, handlers, tracing) as ctx:
            if settings.redis_url is None:
                await run_outbox_worker(ctx)
            else:
                # The queue's own client is not traced: its workers ask Redis for work all the time.
                await run_queue_worker(ctx)
    finally:
        if tracing is not None:
            tracing.shutdown()


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
