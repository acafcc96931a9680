"""`inkwell jobs list` and `inkwell jobs retry`: the dead-letter state from the command line."""

import asyncio
import os
from pathlib import Path

from inkwell.db import Database
from inkwell.jobs import service
from inkwell.jobs.models import JobStatus
from tests.commands import Ran, run_here
from tests.jobs.helpers import enqueue_mail, outbox_row


async def inkwell_on(database_url: str, tmp_path: Path, *args: str) -> Ran:
    """The command in this process, on a thread of its own: it runs its own event loop."""
    env = {**os.environ, "DATABASE_URL": database_url, "HOME": str(tmp_path)}
    return await asyncio.to_thread(run_here, env, *args)


async def test_dead_jobs_are_listed_and_brought_back(
    database_url: str,
    committed_database: Database,
    tmp_path: Path,
) -> None:
    done, dead = await enqueue_mail(committed_database), await enqueue_mail(committed_database)
    async with committed_database.transaction() as tx:
        await service.mark_done(tx, done)
        await service.mark_failed(tx, dead, error="SMTPRecipientsRefused: 550", retry_at=None)

    listed = await inkwell_on(database_url, tmp_path, "jobs", "list", "--status", "dead")
    retried = await inkwell_on(database_url, tmp_path, "jobs", "retry", str(dead))
    again = await inkwell_on(database_url, tmp_path, "jobs", "retry", str(dead))

    assert listed.stdout.splitlines() == [f"{dead}\tsend_email\tdead\t0  SMTPRecipientsRefused: 550"]
    assert retried.returncode == 0, retried.stderr
    job = await outbox_row(committed_database, dead)
    assert (job.status, job.attempts, job.finished_at) == (JobStatus.PENDING, 0, None)
    assert again.returncode == 1
    assert f"there is no dead job {dead}" in again.stderr
