"""A PostgreSQL primary and a streaming replica of the test's own, for read replicas and failover.

Both run as the `postgres` user (PostgreSQL refuses root), in temporary folders that user owns, on free
ports of 127.0.0.1: the shared server is never touched. The replica is a `pg_basebackup -R` of the
primary, started in about a second. Required where CI is set (`.ci/run` makes sure the server programs
are there): elsewhere, without them, the test is skipped.
"""

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults import SERVER_USER, Instance, postgres_bindir, run_as_server_user
from tests.processes import free_port

# Small and quick: these instances hold a few thousand rows.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "shared_buffers": "'16MB'",
    "wal_level": "replica",
    "max_wal_senders": "4",
    "hot_standby": "on",
    "wal_keep_size": "'64MB'",
    "log_min_messages": "warning",
}

# Every commit waits until a standby has it on disk.
SYNCHRONOUS = {"synchronous_standby_names": "'*'", "synchronous_commit": "on"}


def server_programs() -> Path:
    """Where initdb, pg_ctl and pg_basebackup are; skips the test (fails it under CI) without them."""
    bindir = postgres_bindir()
    if bindir is not None and (bindir / "pg_basebackup").exists():
        return bindir
    missing = "PostgreSQL's server programs are not installed (Debian: apt-get install postgresql)"
    if os.environ.get("CI"):
        pytest.fail(missing)
    pytest.skip(missing)


@dataclass
class Pair:
    primary: Instance
    replica: Instance

    async def caught_up(self) -> None:
        """Wait (10 s at most) until the replica has replayed everything the primary has flushed."""
        target = await self.primary.execute("SELECT pg_current_wal_flush_lsn()::text")
        for _ in range(500):
            if await self.replica.execute(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("the replica did not catch up within 10 s")

    async def pause_replay(self) -> None:
        await self.replica.execute("SELECT pg_wal_replay_pause()")

    async def resume_replay(self) -> None:
        await self.replica.execute("SELECT pg_wal_replay_resume()")


@contextlib.contextmanager
def streaming_pair(*, synchronous: bool = False, max_connections: int = 60) -> Iterator[Pair]:
    """A primary and its streaming replica; with `synchronous`, every commit waits until the replica
    has it on disk (what makes a failover to it lose no acknowledged write)."""
    bindir = server_programs()
    root = Path(tempfile.mkdtemp(prefix="inkwell-replication-"))
    primary = Instance(bindir, root / "primary", free_port())
    replica = Instance(bindir, root / "replica", free_port())
    started: list[Instance] = []
    try:
        for folder in (primary.datadir, replica.datadir):
            folder.mkdir(mode=0o700)
        if os.geteuid() == 0:
            for folder in (root, primary.datadir, replica.datadir):
                shutil.chown(folder, SERVER_USER, SERVER_USER)
        initdb = [str(bindir / "initdb"), "-D", str(primary.datadir), "-A", "trust", "-U", "postgres"]
        run_as_server_user([*initdb, "--no-sync", "--no-instructions"])
        connections = {"max_connections": str(max_connections)}
        primary.configure(SERVER_SETTINGS | connections | (SYNCHRONOUS if synchronous else {}))
        primary.start()
        started.append(primary)
        run_as_server_user(
            [
                str(bindir / "pg_basebackup"),
                *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
                *("-D", str(replica.datadir), "-R", "-X", "stream", "-c", "fast", "--no-sync"),
            ]
        )
        # The copy took the primary's configuration: once promoted, the standby must not wait for a
        # standby of its own (it has none), or every commit would hang there.
        replica.configure({"synchronous_standby_names": "''"})
        replica.start()
        started.append(replica)
        yield Pair(primary, replica)
    finally:
        for instance in started:
            with contextlib.suppress(subprocess.CalledProcessError):
                instance.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
