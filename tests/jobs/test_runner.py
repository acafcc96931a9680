"""The outbox and the in-process runner (no Redis), against a real SMTP server."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.jobs import service
from inkwell.jobs.context import JobContext
from inkwell.jobs.models import JobStatus
from inkwell.jobs.runner import OutboxRunner, Outcome, attempt
from inkwell.main import create_app
from inkwell.orm import utcnow
from tests.jobs.helpers import all_rows, enqueue_mail, job_context, job_settings, outbox_row
from tests.processes import free_port
from tests.smtp import ACCEPTED, MailSink, Reply


def refuse(reply: str, *, after: float = 0.0) -> Reply:
    async def answer() -> str:
        await asyncio.sleep(after)
        return reply

    return answer


@pytest.fixture
def ctx(settings: Settings, committed_database: Database, mail: MailSink) -> JobContext:
    return job_context(job_settings(settings, mail.url), committed_database)


@asynccontextmanager
async def running(*runners: OutboxRunner) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(runner.run(stop)) for runner in runners]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_job_exists_only_if_its_transaction_commits(committed_database: Database) -> None:
    async def enqueue_then_fail() -> None:
        async with committed_database.transaction() as tx:
            await service.enqueue(tx, "send_email", {"to": "lost@example.com"})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await enqueue_then_fail()
    assert await all_rows(committed_database) == []

    job_id = await enqueue_mail(committed_database)

    assert [job.id for job in await all_rows(committed_database)] == [job_id]


async def test_the_runner_sends_the_mail_and_marks_the_job_done(
    ctx: JobContext, mail: MailSink, committed_database: Database
) -> None:
    job_id = await enqueue_mail(committed_database, to="grace@example.com", subject="Welcome")

    async with running(OutboxRunner(ctx)):
        [message] = await mail.wait_for(1)
        await asyncio.sleep(0.2)  # let it record the outcome

    assert message["To"] == "grace@example.com"
    assert message["Subject"] == "Welcome"
    assert message["From"] == ctx.settings.mail_from
    assert message["X-Rcpt-To"] == "grace@example.com"
    assert message.get_payload(decode=True).decode().strip() == "A message from Inkwell."  # type: ignore[union-attr]
    job = await outbox_row(committed_database, job_id)
    assert (job.status, job.attempts, job.locked_until, job.last_error) == (JobStatus.DONE, 1, None, None)
    assert job.finished_at is not None


async def test_a_failed_attempt_is_retried_later_with_backoff(
    ctx: JobContext, mail: MailSink, committed_database: Database
) -> None:
    mail.replies.append(refuse("451 4.3.0 Try again later"))
    job_id = await enqueue_mail(committed_database)
    before = utcnow()

    assert await attempt(ctx, job_id) is Outcome.RETRY

    job = await outbox_row(committed_database, job_id)
    assert (job.status, job.attempts, job.locked_until) == (JobStatus.PENDING, 1, None)
    assert "451" in (job.last_error or "")
    assert before <= job.available_at <= utcnow() + timedelta(seconds=ctx.settings.job_retry_delay)
    async with running(OutboxRunner(ctx)):
        await mail.wait_for(1)
        await asyncio.sleep(0.2)
    assert (await outbox_row(committed_database, job_id)).status == JobStatus.DONE
    assert mail.attempts == 2


async def test_a_retry_waits_for_its_time(
    settings: Settings, mail: MailSink, committed_database: Database
) -> None:
    later = job_settings(settings, mail.url, job_retry_delay=3600, job_retry_max_delay=3600)
    slow = job_context(later, committed_database)
    mail.replies.append(refuse("451 4.3.0 Try again later"))
    job_id = await enqueue_mail(committed_database)
    await attempt(slow, job_id)

    async with committed_database.transaction() as tx:
        due_now = await service.due_job_ids(tx, now=utcnow(), limit=10)
        due_later = await service.due_job_ids(tx, now=utcnow() + timedelta(hours=1), limit=10)

    assert (due_now, due_later) == ([], [job_id])


async def test_a_job_goes_dead_after_its_last_attempt(
    ctx: JobContext, mail: MailSink, committed_database: Database
) -> None:
    mail.replies.extend([refuse("451 4.3.0 Try again later")] * 3)
    job_id = await enqueue_mail(committed_database)

    async with running(OutboxRunner(ctx)):
        await mail.wait_for_attempts(3)
        await asyncio.sleep(0.5)  # a fourth attempt would come now

    job = await outbox_row(committed_database, job_id)
    assert (job.status, job.attempts, mail.attempts, mail.messages) == (JobStatus.DEAD, 3, 3, [])
    assert "451" in (job.last_error or "")
    assert await attempt(ctx, job_id) is Outcome.FINISHED


async def test_a_refusal_for_good_goes_dead_at_once(
    ctx: JobContext, mail: MailSink, committed_database: Database
) -> None:
    mail.replies.append(refuse("550 5.1.1 No such mailbox"))
    job_id = await enqueue_mail(committed_database)

    assert await attempt(ctx, job_id) is Outcome.DEAD

    job = await outbox_row(committed_database, job_id)
    assert (job.status, job.attempts) == (JobStatus.DEAD, 1)
    assert "550" in (job.last_error or "")


async def test_a_job_nobody_knows_goes_dead(ctx: JobContext, committed_database: Database) -> None:
    async with committed_database.transaction() as tx:
        job_id = await service.enqueue(tx, "make_coffee", {})

    assert await attempt(ctx, job_id) is Outcome.DEAD
    assert "make_coffee" in ((await outbox_row(committed_database, job_id)).last_error or "")


async def test_an_unreachable_mail_server_is_retried(
    settings: Settings, committed_database: Database
) -> None:
    ctx = job_context(job_settings(settings, f"smtp://127.0.0.1:{free_port()}"), committed_database)
    job_id = await enqueue_mail(committed_database)

    assert await attempt(ctx, job_id) is Outcome.RETRY
    assert "SMTPConnectError" in ((await outbox_row(committed_database, job_id)).last_error or "")


async def test_an_attempt_past_the_timeout_is_cut_and_retried(
    settings: Settings, mail: MailSink, committed_database: Database
) -> None:
    ctx = job_context(job_settings(settings, mail.url, job_timeout=1), committed_database)
    mail.replies.append(refuse(ACCEPTED, after=3))
    job_id = await enqueue_mail(committed_database)

    assert await attempt(ctx, job_id) is Outcome.RETRY
    assert "INKWELL_JOB_TIMEOUT" in ((await outbox_row(committed_database, job_id)).last_error or "")


async def test_a_job_held_by_an_attempt_is_not_claimed_until_its_lease_lapses(
    committed_database: Database,
) -> None:
    job_id = await enqueue_mail(committed_database)
    now, lease = utcnow(), timedelta(seconds=30)

    async def claim(after: int) -> int | None:
        async with committed_database.transaction() as tx:
            job = await service.claim(tx, job_id, now=now + timedelta(seconds=after), lease=lease)
            return None if job is None else job.attempts

    assert await claim(0) == 1
    assert await claim(29) is None
    assert await claim(31) == 2


async def test_two_runners_send_each_mail_once(
    ctx: JobContext, mail: MailSink, committed_database: Database
) -> None:
    recipients = [f"reader{n}@example.com" for n in range(20)]
    for to in recipients:
        await enqueue_mail(committed_database, to=to)

    async with running(OutboxRunner(ctx), OutboxRunner(ctx)):
        await mail.wait_for(20)
        await asyncio.sleep(0.5)  # a duplicate would arrive now

    assert sorted(message["To"] for message in mail.messages) == sorted(recipients)
    assert {job.status for job in await all_rows(committed_database)} == {JobStatus.DONE}


async def test_without_smtp_the_mail_goes_to_the_log(
    settings: Settings, committed_database: Database
) -> None:
    ctx = job_context(job_settings(settings, None), committed_database)
    job_id = await enqueue_mail(committed_database, to="logged@example.com", subject="In the log")

    with capture_logs() as logs:
        assert await attempt(ctx, job_id) is Outcome.DONE

    [entry] = [e for e in logs if e.get("logger") == "inkwell.mail.sender"]
    assert "INKWELL_SMTP_URL is unset" in entry["event"]
    assert (entry["to"], entry["subject"]) == ("logged@example.com", "In the log")
    assert "body" not in entry


async def test_the_api_runs_the_jobs_itself_without_redis(
    settings: Settings, mail: MailSink, committed_database: Database
) -> None:
    app = create_app(job_settings(settings, mail.url))
    job_id = await enqueue_mail(committed_database, to="api@example.com")

    async with app.router.lifespan_context(app):
        [message] = await mail.wait_for(1)
        await asyncio.sleep(0.2)

    assert message["To"] == "api@example.com"
    assert (await outbox_row(committed_database, job_id)).status == JobStatus.DONE
