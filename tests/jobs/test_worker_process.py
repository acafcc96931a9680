"""`inkwell worker` as a real process: killed mid-job and started again, stopped, and several at once.

Each runs twice: from the outbox (no Redis) and from the Redis queue. The SMTP server is real and in
this process; a message counts as delivered only when the server answered 250 to it.
"""

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from inkwell.db import WRITE_OPTION, Database
from inkwell.jobs.models import JobStatus, OutboxJob
from tests.accounts import SIGNED_IN_ENV
from tests.databases import Backend
from tests.jobs.helpers import enqueue_mail, outbox_row
from tests.processes import INKWELL
from tests.smtp import ACCEPTED, MailSink

pytestmark = pytest.mark.slow


@pytest.fixture(params=["outbox", "redis"])
def worker_env(
    request: pytest.FixtureRequest,
    process_backend: Backend,
    database_url: str,
    mail: MailSink,
    tmp_path: Path,
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("INKWELL_") or key.startswith("INKWELL_TEST_")
    }
    env.update(
        DATABASE_URL=database_url,
        HOME=str(tmp_path),
        INKWELL_SMTP_URL=mail.url,
        **SIGNED_IN_ENV,
        INKWELL_JOB_TIMEOUT="3",
        INKWELL_JOB_POLL_INTERVAL="0.1",
        INKWELL_JOB_RETRY_DELAY="0.1",
        INKWELL_JOB_RETRY_MAX_DELAY="0.5",
        INKWELL_JOB_SWEEP_INTERVAL="1",
    )
    if request.param == "redis":
        env["INKWELL_REDIS_URL"] = request.getfixturevalue("redis_server")
        env["INKWELL_REDIS_PREFIX"] = request.getfixturevalue("redis_prefix")
    return env


class Workers:
    """`inkwell worker` processes, started and stopped by the test; every one is gone after it."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        with (self.logs / f"worker-{len(self.processes)}.log").open("wb") as log:
            process = subprocess.Popen(
                [INKWELL, "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        self.processes.append(process)
        return process

    async def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 10)

    async def stop(self, process: subprocess.Popen[bytes]) -> int:
        process.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(process.wait, 30)

    async def started(self, process: subprocess.Popen[bytes]) -> None:
        """Wait until the worker says it runs (its signal handlers are in place by then)."""
        index = self.processes.index(process)
        async with asyncio.timeout(60):
            while "worker started" not in self.log(index):
                assert process.poll() is None, self.log(index)
                await asyncio.sleep(0.1)

    def log(self, index: int) -> str:
        return (self.logs / f"worker-{index}.log").read_text()

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    workers = Workers(worker_env, tmp_path)
    yield workers
    workers.close()


class RowLock:
    """Holds the job's row (PostgreSQL, MariaDB) or the database's write lock (SQLite) in a transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.released = asyncio.Event()
        self.taken = asyncio.Event()

    async def hold(self, job_id: int) -> None:
        async with self.engine.connect() as conn:
            await conn.execution_options(**{WRITE_OPTION: True})
            async with conn.begin() as transaction:
                statement = update(OutboxJob).where(OutboxJob.id == job_id).values(last_error="held")
                await conn.execute(statement)
                self.taken.set()
                await self.released.wait()
                await transaction.rollback()


@pytest.fixture
async def row_lock(engine: AsyncEngine) -> AsyncIterator[RowLock]:
    lock = RowLock(engine)
    yield lock
    lock.released.set()


async def test_a_worker_killed_before_the_server_acknowledged_sends_the_mail_once_after_restart(
    workers: Workers, mail: MailSink, committed_database: Database
) -> None:
    killed = asyncio.Event()

    async def hang_until_killed() -> str:
        await killed.wait()
        return "451 4.4.2 The client went away"  # never seen by the dead worker: not acknowledged

    mail.replies.append(hang_until_killed)
    job_id = await enqueue_mail(committed_database, to="once@example.com")
    first = workers.start()
    await mail.wait_for_attempts(1)

    await workers.kill(first)
    killed.set()
    workers.start()
    await mail.wait_for(1, within=60)
    await wait_until_done(committed_database, job_id)
    await asyncio.sleep(1)  # a duplicate would arrive now

    assert [message["To"] for message in mail.messages] == ["once@example.com"]
    assert (await outbox_row(committed_database, job_id)).attempts == 2


async def test_a_worker_killed_after_the_server_acknowledged_sends_once_per_acknowledgement(
    workers: Workers, mail: MailSink, committed_database: Database, row_lock: RowLock
) -> None:
    job_id = await enqueue_mail(committed_database, to="twice@example.com")
    holder: list[asyncio.Task[None]] = []

    async def acknowledge_while_the_row_is_held() -> str:
        # The worker gets its 250 but cannot record it: it dies between the two.
        holder.append(asyncio.create_task(row_lock.hold(job_id)))
        await row_lock.taken.wait()
        return ACCEPTED

    mail.replies.append(acknowledge_while_the_row_is_held)
    first = workers.start()
    await mail.wait_for(1)
    await asyncio.sleep(0.5)  # the worker now waits for the row

    await workers.kill(first)
    row_lock.released.set()
    await holder[0]
    workers.start()
    await mail.wait_for(2, within=60)
    await wait_until_done(committed_database, job_id)
    await asyncio.sleep(1)  # a third copy would arrive now

    assert mail.attempts == 2
    assert [message["To"] for message in mail.messages] == ["twice@example.com"] * 2
    assert (await outbox_row(committed_database, job_id)).attempts == 2


async def test_a_stopped_worker_exits_cleanly(workers: Workers) -> None:
    process = workers.start()
    await workers.started(process)

    assert await workers.stop(process) == 0
    assert "Traceback" not in workers.log(0)
    assert "worker stopped" in workers.log(0)


async def test_several_workers_send_each_mail_once(
    workers: Workers, mail: MailSink, committed_database: Database
) -> None:
    for process in [workers.start() for _ in range(2)]:
        await workers.started(process)
    recipients = [f"reader{n}@example.com" for n in range(12)]
    for to in recipients:
        await enqueue_mail(committed_database, to=to)

    await mail.wait_for(len(recipients), within=60)
    await asyncio.sleep(1)  # a duplicate would arrive now

    assert sorted(message["To"] for message in mail.messages) == sorted(recipients)


async def wait_until_done(database: Database, job_id: int) -> None:
    async with asyncio.timeout(30):
        for _ in iter(int, 1):  # until done
            if (await outbox_row(database, job_id)).status == JobStatus.DONE:
                return
            await asyncio.sleep(0.1)
