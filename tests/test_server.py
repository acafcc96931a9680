"""The `inkwell` command as a user runs it: migrate, then serve over real HTTP, on every database."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import head_revision
from tests.processes import inkwell, serving

pytestmark = pytest.mark.slow


@pytest.fixture
def server(open_server_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    migrated = inkwell(open_server_env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    with serving(open_server_env, tmp_path) as running:
        yield running.url
    assert running.process.returncode == 0, running.stderr
    assert "Traceback" not in running.stderr, running.stderr


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


def test_db_commands(open_server_env: dict[str, str]) -> None:
    assert inkwell(open_server_env, "db", "upgrade").returncode == 0
    current = inkwell(open_server_env, "db", "current")
    check = inkwell(open_server_env, "db", "check")
    down = inkwell(open_server_env, "db", "downgrade", "base")
    stale_check = inkwell(open_server_env, "db", "check")

    assert f"{head_revision()} (head)" in current.stdout
    assert check.returncode == 0, check.stderr
    assert down.returncode == 0, down.stderr
    assert stale_check.returncode == 1
    assert "inkwell db check:" in stale_check.stderr
