"""Starting and stopping the servers under test, and watching their memory."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
READY_TIMEOUT_SECONDS = 60


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def inkwell_command(port: int, *, workers: int = 1) -> list[str]:
    return [
        str(BIN / "inkwell"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def ceiling_command(which: str, port: int, *, dsn: str | None = None, pool_size: int = 10) -> list[str]:
    command = [str(BIN / "python"), "-m", "bench.ceilings", which, "--port", str(port)]
    if dsn is not None:
        command += ["--dsn", dsn, "--pool-size", str(pool_size)]
    return command


def peer_command(which: str, port: int, *, dsn: str, pool_size: int = 10) -> list[str]:
    """A peer of bench/peers.py: `asyncpg` (the ceiling) or `seed` (the tutorial)."""
    module = [str(BIN / "python"), "-m", "bench.peers", which, "--port", str(port)]
    return [*module, "--dsn", dsn, "--pool-size", str(pool_size)]


@contextmanager
def serving(
    name: str, command: list[str], port: int, *, env: dict[str, str], probe: str, cwd: Path
) -> Iterator[Server]:
    """Run `command` until the block ends; `probe` is a path that answers once the server is up.

    The server's log goes to a file in `cwd`; an error in it (a traceback) fails the run.
    """
    log_path = cwd / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            command, env={**os.environ, **env}, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_until_ready(server, probe)
        yield server
    finally:
        _stop(process)
    if "Traceback" in log_path.read_text(errors="replace"):
        raise ServerError(f"{name} logged an error:\n{log_path.read_text(errors='replace')[-4000:]}")


class ServerError(RuntimeError):
    pass


def _wait_until_ready(server: Server, probe: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(
                f"{server.name} exited before serving:\n{server.log_path.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(server.url + probe, timeout=2):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise ServerError(f"{server.name} did not answer within {READY_TIMEOUT_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def resident_mib(pid: int) -> float:
    """Resident memory of a process and its children (the workers of `--workers N`)."""
    parent = psutil.Process(pid)
    processes = [parent, *parent.children(recursive=True)]
    return sum(p.memory_info().rss for p in processes) / 2**20


def cpu_seconds(pid: int) -> float:
    """User and system CPU time used so far by a process and its children."""
    parent = psutil.Process(pid)
    total = 0.0
    for process in (parent, *parent.children(recursive=True)):
        times = process.cpu_times()
        total += times.user + times.system
    return total


@dataclass
class MemorySampler:
    """Samples a process's resident memory every `interval` seconds in a thread, while in a `with`."""

    pid: int
    interval: float = 1.0
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "MemorySampler":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((round(time.monotonic() - start, 1), round(resident_mib(self.pid), 1)))
            self._stop.wait(self.interval)
