"""Settings, contexts and rows for the job tests."""

from typing import Any

from pydantic import SecretStr
from sqlalchemy import select

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.job_handlers import JOBS
from inkwell.jobs import service
from inkwell.jobs.context import JobContext
from inkwell.jobs.mail import enqueue_email
from inkwell.jobs.models import OutboxJob, OutboxJobRecord
from inkwell.mail.sender import create_mailer
from inkwell.orm import records, table_of

OUTBOX = table_of(OutboxJob)

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
    async with database.transaction() as tx:
        return await enqueue_email(tx, to=to, subject=subject, body="A message from Inkwell.")


async def outbox_row(database: Database, job_id: int) -> OutboxJobRecord:
    async with database.reads() as tx:
        job = await service.get_job(tx, job_id)
    assert job is not None
    return job


async def all_rows(database: Database) -> list[OutboxJobRecord]:
    async with database.reads() as tx:
        return records(await tx.connection.execute(select(OUTBOX).order_by(OUTBOX.c.id)), OutboxJobRecord)
