"""A PgBouncer of the test's own, in transaction mode, in front of the suite's PostgreSQL.

Required where CI is set (CI installs Debian's pgbouncer): elsewhere a missing binary skips the test.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.processes import free_port

USER = "inkwell"
PASSWORD = "pooled-password"  # PgBouncer checks it (auth_type md5); the suite's PostgreSQL trusts its users
POOL_SIZE = 4  # server connections per database, whatever the number of clients


def pgbouncer_binary() -> str:
    binary = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if binary is not None:
        return binary
    missing = "pgbouncer is not installed (Debian: apt-get install pgbouncer)"
    if os.environ.get("CI"):
        pytest.fail(missing)
    pytest.skip(missing)


class PgBouncer:
    """`pgbouncer` on a free port, passing every database to the PostgreSQL at `server_url` as its user."""

    def __init__(self, workdir: Path, server_url: str) -> None:
        self.binary = pgbouncer_binary()
        self.workdir = workdir
        self.server = make_url(server_url)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str, *, password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    @property
    def log(self) -> Path:
        return self.workdir / "pgbouncer.log"

    def start(self) -> "PgBouncer":
        users = self.workdir / "users.txt"
        users.write_text(f'"{USER}" "{PASSWORD}"\n')
        config = self.workdir / "pgbouncer.ini"
        config.write_text(self._config(users))
        # PgBouncer refuses to run as root: it reads its files first, then becomes `nobody`.
        as_user = ["-u", "nobody"] if os.geteuid() == 0 else []
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, *as_user, str(config)], stdout=log, stderr=log, cwd=self.workdir
            )
        self._wait_until_listening()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def _config(self, users: Path) -> str:
        server_user = self.server.username or "postgres"
        return f"""\
[databases]
* = host={self.server.host or "127.0.0.1"} port={self.server.port or 5432} user={server_user}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = md5
auth_file = {users}
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = 200
"""

    def _wait_until_listening(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self.log.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen within 10 s: {self.log.read_text(errors='replace')}")
