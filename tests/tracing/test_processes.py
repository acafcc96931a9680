"""`inkwell serve` and `inkwell worker` as real processes, traced by the OTEL_* variables alone: the
console exporter writes each span as a JSON line on standard output."""

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.tracing import Tracing
from tests.accounts import PASSWORD, bearer
from tests.commands import run_here
from tests.databases import Backend
from tests.jobs.helpers import enqueue_mail
from tests.processes import INKWELL, free_port, wait_until_serving
from tests.smtp import MailSink

pytestmark = pytest.mark.slow

Sessions = async_sessionmaker[AsyncSession]
CONSOLE = {"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "inkwell-under-test"}


def spans_in(output: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.read_text().splitlines() if line.strip()]


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return stderr


def test_a_server_traced_by_the_variables_writes_its_spans_when_it_stops(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/inkwell.db", **CONSOLE}
    assert run_here(env, "db", "upgrade").returncode == 0
    port, output = free_port(), tmp_path / "spans.jsonl"
    url = f"http://127.0.0.1:{port}"
    with output.open("w") as out:
        process = subprocess.Popen(
            [INKWELL, "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until_serving(url, process)
            account = {"email": "a@example.com", "name": "Ada", "password": PASSWORD}
            user = httpx.post(f"{url}/users", json=account).json()
            form = {"username": account["email"], "password": PASSWORD}
            token = httpx.post(f"{url}/auth/token", data=form).json()["access_token"]
            headers = {"X-Request-ID": "from-the-test", **bearer(token)}
            httpx.get(f"{url}/users/{user['id']}", headers=headers)
        finally:
            stderr = stop(process)

    spans = spans_in(output)
    [request] = [span for span in spans if span["name"] == "GET /users/{user_id}"]
    assert request["attributes"]["inkwell.request_id"] == "from-the-test"
    assert request["resource"]["attributes"]["service.name"] == "inkwell-under-test"
    assert [span for span in spans if span["parent_id"] == request["context"]["span_id"]]
    assert "tracing on" in stderr


def start_worker(env: dict[str, str], cwd: Path, output: Path) -> subprocess.Popen[bytes]:
    with output.open("wb") as out:
        return subprocess.Popen([INKWELL, "worker"], env=env, cwd=cwd, stdout=out, stderr=subprocess.DEVNULL)


async def test_a_worker_traced_by_the_variables_links_each_job_to_the_span_that_wrote_it(
    settings: Settings,
    process_backend: Backend,
    database_url: str,
    committed_database: Database,
    mail: MailSink,
    tmp_path: Path,
) -> None:
    writer = Tracing.exporting_to(InMemorySpanExporter(), batch=False)
    with writer.tracer.start_as_current_span("POST /somewhere") as request:
        await enqueue_mail(committed_database, to="traced@example.com")
    env = {
        **os.environ,
        **CONSOLE,
        "HOME": str(tmp_path),
        "DATABASE_URL": database_url,
        "INKWELL_SMTP_URL": mail.url,
        "INKWELL_JOB_POLL_INTERVAL": "0.1",
    }
    env.pop("INKWELL_REDIS_URL", None)
    output = tmp_path / "spans.jsonl"
    process = start_worker(env, tmp_path, output)
    try:
        await mail.wait_for(1, within=60)
    finally:
        # Waited for in a thread: the mail server the worker says goodbye to runs on this loop.
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0

    [job] = [span for span in spans_in(output) if span["name"] == "job send_email"]
    [link] = job["links"]
    assert link["context"]["span_id"] == f"0x{request.get_span_context().span_id:016x}"
    assert job["parent_id"] is None
