"""Finished jobs are deleted by the API's background purge, whether the jobs run in it or through Redis."""

import asyncio
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import update

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.jobs import service
from inkwell.jobs.models import JobStatus, OutboxJob, OutboxJobRecord
from inkwell.main import create_app
from inkwell.orm import utcnow
from tests.jobs.helpers import all_rows, enqueue_mail, job_settings
from tests.smtp import MailSink


@pytest.fixture(params=["in-process runner", "redis"])
def app_settings(request: pytest.FixtureRequest, settings: Settings, mail: MailSink) -> Settings:
    """The API's settings without Redis (it runs the jobs itself), or with it (`inkwell worker` does)."""
    if request.param == "redis":
        redis = {
            "redis_url": SecretStr(request.getfixturevalue("redis_server")),
            "redis_prefix": request.getfixturevalue("redis_prefix"),
        }
        return job_settings(settings, mail.url, **redis)
    return job_settings(settings, mail.url)


async def test_the_api_deletes_finished_jobs_once_kept_long_enough(
    app_settings: Settings, committed_database: Database
) -> None:
    old, recent, dead, waiting = [await enqueue_mail(committed_database) for _ in range(4)]
    long_ago = utcnow() - timedelta(days=app_settings.job_keep_finished_days, minutes=1)
    async with committed_database.transaction() as tx:
        for job_id in (old, recent):
            await service.mark_done(tx, job_id)
        await service.mark_failed(tx, dead, error="gave up", retry_at=None)
        await service.mark_failed(tx, waiting, error="later", retry_at=utcnow() + timedelta(hours=1))
        await tx.connection.execute(
            update(OutboxJob).where(OutboxJob.id.in_([old, dead])).values(finished_at=long_ago)
        )
    app = create_app(app_settings)

    async with app.router.lifespan_context(app):
        remaining = await rows_once_purged(committed_database, gone={old, dead})

    assert [(job.id, job.status) for job in remaining] == [
        (recent, JobStatus.DONE),
        (waiting, JobStatus.PENDING),
    ]


async def rows_once_purged(database: Database, *, gone: set[int]) -> list[OutboxJobRecord]:
    async with asyncio.timeout(10):
        while True:
            rows = await all_rows(database)
            if not gone & {job.id for job in rows}:
                return rows
            await asyncio.sleep(0.05)
