"""Running the `inkwell` command as a user would: real processes, real ports."""

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

INKWELL = str(Path(sys.executable).with_name("inkwell"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def inkwell(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INKWELL, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[str]
    stderr: str = ""

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; the server's log is kept in `stderr`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        _, self.stderr = self.process.communicate(timeout=timeout)
        return self.process.returncode


@contextmanager
def serving(env: dict[str, str], cwd: Path, *args: str) -> Iterator[Server]:
    """`inkwell serve` on a free port until the block ends (then SIGTERM, and the process is reaped)."""
    port = free_port()
    process = subprocess.Popen(
        [INKWELL, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Server(f"http://127.0.0.1:{port}", port, process)
    try:
        wait_until_serving(server.url, process)
        yield server
    finally:
        if process.poll() is None:
            server.stop()
        elif not server.stderr and process.stderr is not None and not process.stderr.closed:
            # It exited by itself: its log is still in the pipe (stop() reads the pipe, and closes it).
            server.stderr = process.stderr.read()


def wait_until_serving(base_url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 90  # a loaded machine starting several workers
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"inkwell serve exited: {process.stderr.read() if process.stderr else ''}")
        try:
            httpx.get(f"{base_url}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("inkwell serve did not answer within 90 s")
