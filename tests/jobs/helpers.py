"""Settings, contexts and rows for the job tests."""

from typing import Any

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.auth.emails import SEND_PASSWORD_RESET
from inkwell.config import Settings
from inkwell.db import transaction
from inkwell.jobs import service
from inkwell.jobs.context import JobContext
from inkwell.jobs.models import OutboxJob
from inkwell.mail.sender import create_mailer
from inkwell.users.models import User

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
    return JobContext(settings, sessionmaker, create_mailer(settings))


async def enqueue_mail(sessionmaker: async_sessionmaker[AsyncSession], to: str = "ada@example.com") -> int:
    """A job that sends one mail to `to`: a password reset, for an account made when there is none."""
    async with transaction(sessionmaker, writes=True) as session:
        if await session.scalar(select(User.id).where(User.email == to)) is None:
            session.add(User(email=to, name="Ada Lovelace"))
        job = await service.enqueue(session, SEND_PASSWORD_RESET, {"email": to})
    return job.id


async def outbox_row(sessionmaker: async_sessionmaker[AsyncSession], job_id: int) -> OutboxJob:
    async with sessionmaker() as session:
        job = await session.get(OutboxJob, job_id)
    assert job is not None
    return job


async def all_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[OutboxJob]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(OutboxJob).order_by(OutboxJob.id)))
