"""Job spans: one per attempt, in the API's outbox runner and in `inkwell worker`'s queue alike, linked
to the request that wrote the job, with the mail it sends inside."""

import asyncio

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.job_handlers import JOBS
from inkwell.jobs.context import JobContext
from inkwell.jobs.queue import Relay, create_queue, create_worker
from inkwell.jobs.runner import Outcome, attempt
from inkwell.jobs.worker import job_context
from inkwell.mail.sender import create_mailer
from inkwell.redis_client import create_redis
from inkwell.tracing import Tracing
from tests.accounts import TEST_SECRET_KEY, sign_up
from tests.jobs.helpers import enqueue_mail, job_settings, outbox_row
from tests.smtp import MailSink
from tests.tracing.conftest import children, everything_said, running, server_span, wait_for_span

Sessions = async_sessionmaker[AsyncSession]
RESET_JOB = "job send_password_reset"


def with_mail(settings: Settings, mail: MailSink, **overrides: object) -> Settings:
    """Sign-in on (its flows mail), jobs polled often, mail to the test's server."""
    return job_settings(settings, mail.url, auth=True, secret_key=SecretStr(TEST_SECRET_KEY), **overrides)


def assert_linked(job: ReadableSpan, request: ReadableSpan) -> None:
    assert job.kind is SpanKind.CONSUMER
    assert job.parent is None  # a trace of its own...
    assert request.context is not None
    [link] = job.links
    assert link.context.trace_id == request.context.trace_id  # ...linked to the request's
    assert link.context.span_id == request.context.span_id


async def test_the_outbox_runner_traces_a_job_linked_to_the_request_that_wrote_it(
    settings: Settings,
    tracing: Tracing,
    spans: InMemorySpanExporter,
    mail: MailSink,
    committed_database: Database,
) -> None:
    async with running(with_mail(settings, mail), tracing) as client:
        _, email = await sign_up(client)
        assert (await client.post("/auth/forgot-password", json={"email": email})).status_code == 202
        await mail.wait_for(1)
        job = await wait_for_span(spans, lambda span: span.name == RESET_JOB)

    assert_linked(job, server_span(spans, "POST /auth/forgot-password"))
    assert (job.attributes or {})["inkwell.job.outcome"] == Outcome.DONE
    inside = children(spans, job)
    [smtp] = [span for span in inside if span.name == "smtp send"]
    assert smtp.kind is SpanKind.CLIENT
    assert (smtp.attributes or {})["server.port"] == mail.port
    assert any((span.attributes or {}).get("db.statement") for span in inside)  # the job's statements
    # The runner looks at the outbox every few milliseconds here: none of that makes a trace.
    assert all(span.parent is not None for span in spans.get_finished_spans() if span.kind is SpanKind.CLIENT)
    assert email not in everything_said(smtp)


async def test_a_queue_worker_traces_a_job_linked_to_the_request_that_wrote_it(
    settings: Settings,
    tracing: Tracing,
    spans: InMemorySpanExporter,
    mail: MailSink,
    committed_database: Database,
    redis_server: str,
    redis_prefix: str,
) -> None:
    queued = with_mail(settings, mail, redis_url=SecretStr(redis_server), redis_prefix=redis_prefix)
    async with running(queued, tracing) as client:  # with Redis, the API runs no job itself
        _, email = await sign_up(client)
        assert (await client.post("/auth/forgot-password", json={"email": email})).status_code == 202

    async with job_context(queued, JOBS, tracing) as ctx:
        redis = create_redis(queued, timeout=None)
        assert redis is not None
        queue = create_queue(queued, redis)
        await queue.connect()
        worker = create_worker(ctx, queue)
        worker.dequeue_timeout = 0.1
        stop_relay = asyncio.Event()
        tasks = [asyncio.create_task(worker.start()), asyncio.create_task(Relay(ctx, queue).run(stop_relay))]
        try:
            await mail.wait_for(1)
            job = await wait_for_span(spans, lambda span: span.name == RESET_JOB)
        finally:
            stop_relay.set()
            await worker.stop()
            await asyncio.gather(*tasks)
            await queue.disconnect()

    assert_linked(job, server_span(spans, "POST /auth/forgot-password"))
    assert [span.name for span in children(spans, job) if span.name == "smtp send"] == ["smtp send"]


async def test_a_failed_attempt_is_an_error_span_named_by_the_error_type_only(
    settings: Settings,
    tracing: Tracing,
    spans: InMemorySpanExporter,
    mail: MailSink,
    committed_database: Database,
) -> None:
    async def refuse() -> str:
        return "550 5.1.1 <nobody@example.com> is not known here"

    mail.replies.append(refuse)
    traced = job_settings(settings, mail.url)
    mailer = create_mailer(traced, tracer=tracing.tracer)
    ctx = JobContext(traced, committed_database, mailer, JOBS, tracing.tracer)
    job_id = await enqueue_mail(committed_database, to="nobody@example.com")

    assert await attempt(ctx, job_id) is Outcome.DEAD

    assert "550" in ((await outbox_row(committed_database, job_id)).last_error or "")
    [job] = [span for span in spans.get_finished_spans() if span.name == "job send_email"]
    [smtp] = children(spans, job)
    assert job.links == ()  # written outside any request
    for span, error in ((job, "PermanentJobError"), (smtp, "PermanentMailError")):
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == error
        assert "nobody" not in everything_said(span)
