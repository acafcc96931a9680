"""The `inkwell` command as a user runs it: migrate, then serve over real HTTP, on every database."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import Backend, create_database, drop_database

INKWELL = str(Path(sys.executable).with_name("inkwell"))
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def server_database(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    name = f"inkwell_server_{os.getpid()}"
    yield await create_database(backend, name, str(tmp_path))
    await drop_database(backend, name)


def inkwell(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INKWELL, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def server_env(server_database: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": server_database, "HOME": str(tmp_path)}


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    migrated = inkwell(server_env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    process = subprocess.Popen(
        [INKWELL, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url, process)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr


def wait_until_serving(base_url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"inkwell serve exited: {process.stderr.read() if process.stderr else ''}")
        try:
            httpx.get(f"{base_url}/openapi.json", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("inkwell serve did not answer within 30 s")


def test_serve_after_upgrade_answers_the_api(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        created = client.post("/users", json={"email": "Served@Example.com", "name": "Served"})
        duplicate = client.post("/users", json={"email": "served@example.com", "name": "Again"})
        post = client.post(f"/users/{created.json()['id']}/posts", json={"title": "t", "body": "b"})
        listed = client.get("/posts")
        docs = client.get("/docs")

    assert created.status_code == 201, created.text
    assert duplicate.status_code == 409
    assert post.status_code == 201
    assert [p["id"] for p in listed.json()] == [post.json()["id"]]
    assert docs.status_code == 200


def test_db_commands(server_env: dict[str, str]) -> None:
    assert inkwell(server_env, "db", "upgrade").returncode == 0
    current = inkwell(server_env, "db", "current")
    check = inkwell(server_env, "db", "check")
    down = inkwell(server_env, "db", "downgrade", "base")
    stale_check = inkwell(server_env, "db", "check")

    assert "0002 (head)" in current.stdout
    assert check.returncode == 0, check.stderr
    assert down.returncode == 0, down.stderr
    assert stale_check.returncode == 1
    assert "inkwell db check:" in stale_check.stderr
