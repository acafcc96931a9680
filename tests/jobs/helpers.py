"""Settings, contexts and rows for the job tests."""

from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.db import transaction
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


def job_context(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> JobContext:
    return JobContext(settings, sessionmaker, create_mailer(settings), JOBS)


async def enqueue_mail(
    sessionmaker: async_sessionmaker[AsyncSession], to: str = "ada@example.com", subject: str = "Hello"
) -> int:
    async with transaction(sessionmaker, writes=True) as session:
        job = await enqueue_email(session, to=to, subject=subject, body="A message from Inkwell.")
    return job.id


async def outbox_row(sessionmaker: async_sessionmaker[AsyncSession], job_id: int) -> OutboxJob:
    async with sessionmaker() as session:
        job = await session.get(OutboxJob, job_id)
    assert job is not None
    return job


async def all_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[OutboxJob]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(OutboxJob).order_by(OutboxJob.id)))
