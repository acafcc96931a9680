"""The `inkwell` command as a user runs it: migrate, then serve over real HTTP, on every database."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.accounts import PASSWORD, bearer
from tests.commands import run_here
from tests.databases import Backend, head_revision
from tests.processes import serving

pytestmark = pytest.mark.slow


@contextmanager
def migrated_and_served(env: dict[str, str], tmp_path: Path) -> Iterator[httpx.Client]:
    migrated = run_here(env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    with serving(env, tmp_path) as running, httpx.Client(base_url=running.url, timeout=10) as client:
        yield client
    assert running.process.returncode == 0, running.stderr
    assert "Traceback" not in running.stderr, running.stderr


def test_serve_after_upgrade_answers_the_api(server_env: dict[str, str], tmp_path: Path) -> None:
    with migrated_and_served(server_env, tmp_path) as client:
        account = {"email": "Served@Example.com", "name": "Served", "password": PASSWORD}
        created = client.post("/users", json=account)
        duplicate = client.post("/users", json={**account, "email": "served@example.com", "name": "Again"})
        signed_in = client.post("/auth/token", data={"username": "served@example.com", "password": PASSWORD})
        token = bearer(signed_in.json()["access_token"])
        post = client.post(
            f"/users/{created.json()['id']}/posts", json={"title": "t", "body": "b"}, headers=token
        )
        listed = client.get("/posts")
        docs = client.get("/docs")

    assert created.status_code == 201, created.text
    assert duplicate.status_code == 409
    assert post.status_code == 201
    assert [p["id"] for p in listed.json()] == [post.json()["id"]]
    assert docs.status_code == 200


def test_with_sign_in_off_serve_answers_the_open_api(
    process_backend: Backend, open_server_env: dict[str, str], tmp_path: Path
) -> None:
    with migrated_and_served(open_server_env, tmp_path) as client:
        created = client.post("/users", json={"email": "Served@Example.com", "name": "Served"})
        post = client.post(f"/users/{created.json()['id']}/posts", json={"title": "t", "body": "b"})
        listed = client.get("/users")

    assert created.status_code == 201, created.text
    assert post.status_code == 201
    assert [u["email"] for u in listed.json()] == ["served@example.com"]


def test_db_commands(server_env: dict[str, str]) -> None:
    assert run_here(server_env, "db", "upgrade").returncode == 0
    current = run_here(server_env, "db", "current")
    check = run_here(server_env, "db", "check")
    down = run_here(server_env, "db", "downgrade", "base")
    stale_check = run_here(server_env, "db", "check")

    assert f"{head_revision()} (head)" in current.stdout
    assert check.returncode == 0, check.stderr
    # One line, as every other answer: none of Alembic's log lines.
    assert (check.stdout, check.stderr) == ("The models and the migrations agree.\n", "")
    assert down.returncode == 0, down.stderr
    assert stale_check.returncode == 1
    assert "inkwell db check:" in stale_check.stderr
