"""Redis for the tests: the server at INKWELL_TEST_REDIS_URL (default: the local one), shared with
others, so each test uses a key prefix of its own and deletes exactly its own keys after."""

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from redis import Redis
from tests.processes import free_port

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    """The Redis URL; when none was named and the default does not answer, the test is skipped."""
    named = os.environ.get("INKWELL_TEST_REDIS_URL")
    url = named or DEFAULT_URL
    try:
        with Redis.from_url(url, socket_connect_timeout=0.5) as client:
            client.ping()
    except Exception as exc:
        if named:
            raise
        pytest.skip(f"No Redis answers at {url} ({exc}): start redis-server or set INKWELL_TEST_REDIS_URL")
    return url


def unique_prefix() -> str:
    return f"inkwell-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def delete_keys(url: str, prefix: str) -> None:
    """Delete every key that names `prefix` (cache, queue and job keys all do)."""
    with Redis.from_url(url) as client:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


class PrivateRedis:
    """A redis-server of the test's own, on a port of its own, that the test may stop and start."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with Redis.from_url(self.url, socket_connect_timeout=0.2) as client:
                    client.ping()
                    return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
