"""Things that go wrong on purpose: a PostgreSQL cluster of the test's own, and a TCP proxy to cut.

The shared PostgreSQL server is never stopped: a test that needs "PostgreSQL restarted" starts a private
cluster (initdb in a temporary folder, its own port) and stops and starts that one.
"""

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.processes import free_port

SERVER_USER = "postgres"  # PostgreSQL refuses to run as root


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are (Debian keeps them out of PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


@dataclass
class Instance:
    """A PostgreSQL server of the test's own: its data folder and port on 127.0.0.1."""

    bindir: Path
    datadir: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def configure(self, settings: dict[str, str]) -> None:
        lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write(lines)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.datadir}"
        log = self.datadir / "server.log"
        try:
            self.pg_ctl("start", "-w", "-t", "60", "-o", options, "-l", str(log))
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"PostgreSQL did not start: {log.read_text(errors='replace')[-2000:]}"
            ) from exc

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-w", "-t", "60", "-m", mode)

    def promote(self) -> None:
        self.pg_ctl("promote", "-w", "-t", "60")

    def pg_ctl(self, *args: str) -> None:
        run_as_server_user([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args])

    async def execute(self, statement: str) -> object:
        connection = await asyncpg.connect(self.url)
        try:
            return await connection.fetchval(statement)
        finally:
            await connection.close()


@contextlib.contextmanager
def private_cluster() -> Iterator[Instance]:
    """A throwaway PostgreSQL server on 127.0.0.1 and a free port, trusted, without fsync."""
    bindir = postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    datadir = Path(tempfile.mkdtemp(prefix="inkwell-pg-"))
    if os.geteuid() == 0:
        shutil.chown(datadir, SERVER_USER, SERVER_USER)
    cluster = Instance(bindir, datadir, free_port())
    try:
        run_as_server_user(
            [str(bindir / "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres", "--no-sync"]
        )
        cluster.configure({"listen_addresses": "'127.0.0.1'", "fsync": "off"})
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop()
        shutil.rmtree(datadir, ignore_errors=True)


def run_as_server_user(command: list[str]) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", SERVER_USER, "--", *command]
    result = subprocess.run(command, capture_output=True, timeout=120, check=False)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, command, result.stdout, result.stderr)


class TcpProxy:
    """A TCP proxy on 127.0.0.1 that can stop passing bytes while keeping every socket open.

    That is a network that went silent (a partition, a dead host): nothing is refused, nothing
    answers, and only the client's own timeouts end the wait.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._passing = asyncio.Event()
        self._passing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def silent(self) -> bool:
        return not self._passing.is_set()

    @silent.setter
    def silent(self, silent: bool) -> None:
        if silent:
            self._passing.clear()
        else:
            self._passing.set()

    async def __aenter__(self) -> "TcpProxy":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(
                self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer)
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            client_writer.close()
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._passing.wait()  # while silent, the bytes are held back; the socket stays open
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()
