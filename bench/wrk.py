"""Running wrk and reading its figures."""

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "wrk"
RESULT_MARKER = "BENCH_RESULT "
INSTALL_HINT = (
    "wrk is not installed: the benchmark drives its load with it.\n"
    "  Debian/Ubuntu: sudo apt-get install -y wrk\n"
    "  macOS:         brew install wrk"
)


class WrkMissing(RuntimeError):
    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)


class WrkFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Load:
    """How hard and how long to push: wrk's threads, connections and duration."""

    threads: int
    connections: int
    seconds: float


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def find_wrk() -> str:
    """wrk's path, or WrkMissing with how to install it."""
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing
    return path


def wrk_command(
    wrk: str, url: str, script: str, args: list[str], load: Load, headers: dict[str, str] | None = None
) -> list[str]:
    command = [
        wrk,
        f"--threads={load.threads}",
        f"--connections={load.connections}",
        f"--duration={max(1, round(load.seconds))}s",
        "--timeout=10s",
        f"--script={SCRIPTS / script}",
    ]
    for name, value in (headers or {}).items():
        command.append(f"--header={name}: {value}")
    return [*command, url, "--", *args]


def run_wrk(command: list[str]) -> WrkResult:
    return wait_for_wrk(start_wrk(command))


def start_wrk(command: list[str]) -> "subprocess.Popen[str]":
    """wrk running in the background (a load beside the one measured); its figures from wait_for_wrk."""
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603


def wait_for_wrk(process: "subprocess.Popen[str]") -> WrkResult:
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise WrkFailed(f"wrk exited {process.returncode}: {stderr.strip()}")
    return parse_wrk_output(stdout)


def parse_wrk_output(output: str) -> WrkResult:
    """The figures from the JSON line that bench/wrk/report.lua's done() prints."""
    for line in output.splitlines():
        if line.startswith(RESULT_MARKER):
            data = json.loads(line[len(RESULT_MARKER) :])
            latency = data["latency_us"]
            return WrkResult(
                requests=data["requests"],
                seconds=data["duration_us"] / 1e6,
                errors=dict(data["errors"]),
                p50_ms=latency["p50"] / 1000,
                p90_ms=latency["p90"] / 1000,
                p99_ms=latency["p99"] / 1000,
                max_ms=latency["max"] / 1000,
            )
    raise WrkFailed(f"no {RESULT_MARKER.strip()} line in wrk's output:\n{output}")
