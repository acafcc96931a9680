"""A real `inkwell serve` that can be killed, and whose log goes to a file.

tests/processes.py keeps the log in a pipe, read when the server stops; a long run (a fuzzer's thousands
of requests, each logged) would fill the pipe and stall the server, and a killed one never stops.
"""

import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.processes import INKWELL, free_port

STARTUP_SECONDS = 60


@dataclass
class Server:
    """One `inkwell serve` on a free port; its log goes to a file so that a killed one leaves it behind."""

    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"inkwell-{self.port}.log"

    def start(self) -> "Server":
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [INKWELL, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=self.workdir,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self._wait_until_serving()
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, as a crash or the OOM killer would do it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> str:
        """SIGTERM, a clean shutdown; the log of the whole run."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
        return self.log.read_text(errors="replace")

    def _wait_until_serving(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"inkwell serve exited: {self.log.read_text(errors='replace')}")
            try:
                httpx.get(f"{self.url}/openapi.json", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"inkwell serve did not answer within {STARTUP_SECONDS} s")
