"""Schemathesis against a real `inkwell serve`: every check, every phase (stateful included), no failure.

`make test` runs it with a fixed seed and few examples; `make fuzz` with a fresh seed and many more
(INKWELL_FUZZ_EXAMPLES, INKWELL_FUZZ_SEED). The configuration and hooks are schemathesis.toml and
tests/schemathesis_hooks.py.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.accounts import OPEN_ENV, SIGNED_IN_ENV
from tests.commands import run_here
from tests.databases import Backend
from tests.processes import inkwell
from tests.servers import Server

PROJECT = Path(__file__).resolve().parents[1]
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
CI_SEED = "20261125"
CI_EXAMPLES = "10"
pytestmark = pytest.mark.slow


ADMIN_PASSWORD = "fuzzing admin password"


def serve_fuzzed(env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    migrated = run_here(env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    server = Server(env, tmp_path).start()
    try:
        yield server
    finally:
        log = server.stop()
        assert "Traceback" not in log, log


@pytest.fixture
def open_server(server_database: str, tmp_path: Path) -> Iterator[Server]:
    """The tutorial's open API, fuzzed on every database."""
    env = {**os.environ, "DATABASE_URL": server_database, "HOME": str(tmp_path), **OPEN_ENV}
    yield from serve_fuzzed(env, tmp_path)


@pytest.fixture
def signed_in_server(process_backend: Backend, server_database: str, tmp_path: Path) -> Iterator[Server]:
    """Sign-in on. What it adds does not depend on the database: fuzzed on one, like the other process
    tests."""
    env = {
        **os.environ,
        "DATABASE_URL": server_database,
        "HOME": str(tmp_path),
        **SIGNED_IN_ENV,
        # The fuzzer is one client that signs up thousands of times; the limit has tests of its own.
        "INKWELL_SIGN_UP_LIMIT_PER_ADDRESS": "1000000",
    }
    yield from serve_fuzzed(env, tmp_path)


def admin_token(server: Server) -> str | None:
    """With sign-in on, the fuzzer calls as an admin (it may then reach every route); None when off."""
    if server.env.get("INKWELL_AUTH") != "on":
        return None
    env = {**server.env, "INKWELL_ADMIN_PASSWORD": ADMIN_PASSWORD}
    made = inkwell(env, "users", "create-admin", "--email", "fuzz@example.com", "--name", "Fuzz")
    assert made.returncode == 0, made.stderr
    response = httpx.post(
        f"{server.url}/auth/token", data={"username": "fuzz@example.com", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_schemathesis_finds_nothing_in_the_open_api(open_server: Server, tmp_path: Path) -> None:
    fuzz(open_server, tmp_path)


def test_schemathesis_finds_nothing_signed_in(signed_in_server: Server, tmp_path: Path) -> None:
    fuzz(signed_in_server, tmp_path)


def fuzz(fuzzed_server: Server, tmp_path: Path) -> None:
    """Every check, every phase, against the server; it fails on the first failure found."""
    seed = os.environ.get("INKWELL_FUZZ_SEED", CI_SEED)
    examples = os.environ.get("INKWELL_FUZZ_EXAMPLES", CI_EXAMPLES)
    token = admin_token(fuzzed_server)
    command = [
        SCHEMATHESIS,
        "--config-file",
        str(PROJECT / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{fuzzed_server.url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        examples,
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
        *(["--seed", seed] if seed != "random" else []),
        # Signing out would end the fuzzer's own session, and every later call would be a 401.
        *(["--header", f"Authorization: Bearer {token}", "--exclude-path", "/auth/logout"] if token else []),
        # In CI a failure is reported as found: shrinking it can take many minutes of CPU.
        *(["--no-shrink", "--max-failures", "1"] if "INKWELL_FUZZ_EXAMPLES" not in os.environ else []),
    ]

    returncode, output = run_for_at_most(command, seconds=600)

    assert returncode is not None, f"no end in 600 s:\n{output[-20000:]}\n{server_log_tail(fuzzed_server)}"
    assert returncode == 0, output
    # The stateful phase ran: it followed the OpenAPI links from created records to what uses them.
    scenarios = re.search(r"Scenarios:\s+(\d+)", output)
    links = re.search(r"API Links:\s+(\d+) covered", output)
    assert scenarios is not None, output
    assert links is not None, output
    assert int(scenarios.group(1)) > 0
    assert int(links.group(1)) > 0


def run_for_at_most(command: list[str], *, seconds: float) -> tuple[int | None, str]:
    """The command's exit code and output; None for the code when it ran too long (it is killed then, and
    what it printed so far is kept: it says which operation it was on)."""
    with subprocess.Popen(
        command, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        try:
            output, _ = process.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            return None, output
        return process.returncode, output


def server_log_tail(server: Server) -> str:
    """The last lines the fuzzed server logged: whether it was still answering, and how slowly."""
    lines = server.log.read_text(errors="replace").splitlines()
    return "the server's last log lines:\n" + "\n".join(lines[-60:])
