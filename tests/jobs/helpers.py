"""Settings, contexts and rows for the job tests."""

from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.job_handlers import JOBS
from inkwell.jobs.context import JobContext
from inkwell.jobs.mail import enqueue_email
from inkwell.jobs.models import OutboxJob
from inkwell.mail.sender import create_mailer

FAST = {
    "job_poll_interval": 0.05,
    "job_retry_delay": 0.05,
    "job_retry_max_delay": 0.1,
    "job_timeout": 5,
    "job_max_attempts": 3,
    "job_sweep_interval": 1,
}


def job_settings(settings: Settings, smtp_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {**FAST, "smtp_url": SecretStr(smtp_url) if smtp_url else None, **overrides}
    return settings.model_copy(update=values)


def job_context(settings: Settings, database: Database) -> JobContext:
    return JobContext(settings, database, create_mailer(settings), JOBS)


async def enqueue_mail(database: Database, to: str = "ada@example.com", subject: str = "Hello") -> int:
    async with database.transaction(writes=True) as tx:
        session = tx.session
        job = await enqueue_email(session, to=to, subject=subject, body="A message from Inkwell.")
    return job.id


async def outbox_row(database: Database, job_id: int) -> OutboxJob:
    async with database.transaction(writes=True) as tx:
        session = tx.session
        job = await session.get(OutboxJob, job_id)
    assert job is not None
    return job


async def all_rows(database: Database) -> list[OutboxJob]:
    async with database.transaction(writes=True) as tx:
        session = tx.session
        return list(await session.scalars(select(OutboxJob).order_by(OutboxJob.id)))
