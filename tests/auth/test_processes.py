"""Sign-in across real processes: the secret key at start-up, the admin commands, and the throttle shared
by several servers (through the database, or Redis)."""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from redis import Redis
from tests.accounts import TEST_SECRET_KEY
from tests.databases import Backend
from tests.processes import inkwell, serving

pytestmark = pytest.mark.slow


@pytest.fixture
def secure_env(server_env: dict[str, str]) -> dict[str, str]:
    env = {**server_env, "INKWELL_AUTH": "on", "INKWELL_SECRET_KEY": TEST_SECRET_KEY}
    migrated = inkwell(env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    return env


def sign_in(url: str, email: str, password: str) -> httpx.Response:
    return httpx.post(f"{url}/auth/token", data={"username": email, "password": password}, timeout=30)


def sign_up(url: str, email: str, password: str) -> None:
    response = httpx.post(
        f"{url}/users", json={"email": email, "name": "Ada", "password": password}, timeout=30
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "INKWELL_SECRET_KEY is not set"),
        ("too-short", "at least 32 bytes"),
        ("change-me-change-me-change-me-change-me", "placeholder"),
    ],
)
def test_serve_refuses_to_start_without_a_usable_key_on_a_server_database(
    process_backend: Backend, server_env: dict[str, str], key: str | None, message: str
) -> None:
    if process_backend.name == "sqlite":
        pytest.skip("SQLite generates a key of its own")
    # Checked before the database is: the database here is not even migrated.
    env = {**server_env, "INKWELL_AUTH": "on"}
    if key is not None:
        env["INKWELL_SECRET_KEY"] = key

    result = inkwell(env, "serve", "--port", "0")

    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    if key is not None:
        assert key not in result.stderr


def test_sqlite_keeps_a_generated_key_private_and_across_restarts(tmp_path: Path) -> None:
    database = tmp_path / "data" / "inkwell.db"
    database.parent.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if k != "INKWELL_SECRET_KEY"},
        "DATABASE_URL": f"sqlite:///{database}",
        "INKWELL_AUTH": "on",
    }
    assert inkwell(env, "db", "upgrade").returncode == 0

    with serving(env, tmp_path) as first:
        sign_up(first.url, "ada@example.com", "a long password")
        token = sign_in(first.url, "ada@example.com", "a long password").json()["access_token"]
    key_file = database.parent / "inkwell-secret.key"
    with serving(env, tmp_path) as second:
        me = httpx.get(f"{second.url}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) == 64
    assert me.status_code == 200


def test_admins_are_made_and_unmade_from_the_command_line(
    process_backend: Backend, secure_env: dict[str, str], tmp_path: Path
) -> None:
    created = inkwell(
        secure_env,
        "users",
        "create-admin",
        "--email",
        "Root@Example.com",
        "--name",
        "Root",
        "--password",
        "a long password",
    )
    again = inkwell(
        secure_env,
        "users",
        "create-admin",
        "--email",
        "root@example.com",
        "--name",
        "Root",
        "--password",
        "a long password",
    )
    weak = inkwell(
        secure_env, "users", "create-admin", "--email", "x@example.com", "--name", "X", "--password", "short"
    )
    common = inkwell(
        secure_env,
        "users",
        "create-admin",
        "--email",
        "y@example.com",
        "--name",
        "Y",
        "--password",
        "Football",
    )

    with serving(secure_env, tmp_path) as server:
        sign_up(server.url, "member@example.com", "a long password")
        token = sign_in(server.url, "root@example.com", "a long password").json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        me = httpx.get(f"{server.url}/users/me", headers=headers, timeout=30).json()
        members = httpx.get(f"{server.url}/users", headers=headers, timeout=30).json()
        member_id = next(user["id"] for user in members if user["email"] == "member@example.com")
        renamed = httpx.patch(
            f"{server.url}/users/{member_id}", json={"name": "Renamed"}, headers=headers, timeout=30
        )
        revoked = inkwell(secure_env, "users", "set-admin", "root@example.com", "--revoke")
        refused = httpx.patch(
            f"{server.url}/users/{member_id}", json={"name": "Again"}, headers=headers, timeout=30
        )
        granted = inkwell(secure_env, "users", "set-admin", "member@example.com")
        unknown = inkwell(secure_env, "users", "set-admin", "nobody@example.com")

    assert created.returncode == 0, created.stderr
    assert me["email"] == "root@example.com"
    assert me["is_admin"] is True
    assert again.returncode == 1
    assert "registered already" in again.stderr
    assert weak.returncode == 1
    assert "password" in weak.stderr
    assert "short" not in weak.stderr.replace("too_short", "")
    assert common.returncode == 1
    assert "password: Value error, must not be one of the most common passwords" in common.stderr
    assert "Football" not in common.stderr
    assert renamed.status_code == 200
    assert revoked.returncode == 0
    assert refused.status_code == 403  # the flag is read with the session, on every request
    assert granted.returncode == 0
    assert unknown.returncode == 1


def test_create_admin_asks_for_the_password_when_it_is_left_out(
    process_backend: Backend, secure_env: dict[str, str]
) -> None:
    import subprocess

    from tests.processes import INKWELL

    result = subprocess.run(
        [INKWELL, "users", "create-admin", "--email", "asked@example.com", "--name", "Asked"],
        env=secure_env,
        input="a typed password\na typed password\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "a typed password" not in result.stdout + result.stderr


@pytest.fixture(params=["database", "redis"])
def throttled_env(request: pytest.FixtureRequest, secure_env: dict[str, str]) -> Iterator[dict[str, str]]:
    env = {**secure_env, "INKWELL_LOGIN_MAX_FAILURES": "3"}
    if request.param == "database":
        yield env
        return
    url = request.getfixturevalue("redis_server")
    prefix = request.getfixturevalue("redis_prefix")
    yield {**env, "INKWELL_REDIS_URL": url, "INKWELL_REDIS_PREFIX": prefix}
    with Redis.from_url(url) as client:
        assert list(client.scan_iter(match=f"{prefix}:throttle:*"))


def test_the_throttle_holds_across_two_server_processes(
    process_backend: Backend, throttled_env: dict[str, str], tmp_path: Path
) -> None:
    with serving(throttled_env, tmp_path) as one, serving(throttled_env, tmp_path) as two:
        sign_up(one.url, "ada@example.com", "a long password")
        statuses = [
            sign_in(one.url, "ada@example.com", "wrong password").status_code,
            sign_in(two.url, "ada@example.com", "wrong password").status_code,
            sign_in(one.url, "ada@example.com", "wrong password").status_code,
        ]
        blocked_on_two = sign_in(two.url, "ada@example.com", "a long password")
        blocked_on_one = sign_in(one.url, "ada@example.com", "a long password")

    assert statuses == [401, 401, 401]
    assert blocked_on_two.status_code == blocked_on_one.status_code == 429
    assert int(blocked_on_two.headers["Retry-After"]) > 0
