"""Sign-in across real processes: the secret key at start-up, the admin commands, and the throttle shared
by several servers (through the database, or Redis)."""

import os
import pty
import select
import signal
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from redis import Redis
from tests.commands import Ran, run_here
from tests.databases import Backend
from tests.processes import INKWELL, inkwell, serving

pytestmark = pytest.mark.slow


@pytest.fixture
def migrated_env(server_env: dict[str, str]) -> dict[str, str]:
    migrated = run_here(server_env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    return server_env


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
    env = {name: value for name, value in server_env.items() if name != "INKWELL_SECRET_KEY"}
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
    process_backend: Backend, migrated_env: dict[str, str], tmp_path: Path
) -> None:
    def create_admin(email: str, password: str) -> Ran:
        env = {**migrated_env, "INKWELL_ADMIN_PASSWORD": password}
        return run_here(env, "users", "create-admin", "--email", email, "--name", "Root")

    created = create_admin("Root@Example.com", "a long password")
    again = create_admin("root@example.com", "a long password")
    weak = create_admin("x@example.com", "short")
    common = create_admin("y@example.com", "Football")

    with serving(migrated_env, tmp_path) as server:
        sign_up(server.url, "member@example.com", "a long password")
        token = sign_in(server.url, "root@example.com", "a long password").json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        me = httpx.get(f"{server.url}/users/me", headers=headers, timeout=30).json()
        members = httpx.get(f"{server.url}/users", headers=headers, timeout=30).json()
        member_id = next(user["id"] for user in members if user["email"] == "member@example.com")
        renamed = httpx.patch(
            f"{server.url}/users/{member_id}", json={"name": "Renamed"}, headers=headers, timeout=30
        )
        revoked = run_here(migrated_env, "users", "set-admin", "root@example.com", "--revoke")
        refused = httpx.patch(
            f"{server.url}/users/{member_id}", json={"name": "Again"}, headers=headers, timeout=30
        )
        granted = run_here(migrated_env, "users", "set-admin", "member@example.com")
        unknown = run_here(migrated_env, "users", "set-admin", "nobody@example.com")

    assert created.returncode == 0, created.stderr
    assert me["email"] == "root@example.com"
    assert me["is_admin"] is True
    assert again.returncode == 1
    assert "registered already" in again.stderr
    assert weak.returncode == 1
    assert "password" in weak.stderr
    assert "short" not in weak.stderr.replace("too_short", "")
    assert common.returncode == 1
    assert "password: must not be one of the most common passwords" in common.stderr
    assert "Football" not in common.stderr
    assert renamed.status_code == 200
    assert revoked.returncode == 0
    assert refused.status_code == 403  # the flag is read with the session, on every request
    assert granted.returncode == 0
    assert unknown.returncode == 1


def create_admin_args(email: str) -> list[str]:
    return ["users", "create-admin", "--email", email, "--name", "Admin"]


def test_create_admin_takes_no_password_on_the_command_line() -> None:
    # Shell history and the process list would keep it.
    result = run_here(os.environ, *create_admin_args("argv@example.com"), "--password", "in history")

    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_create_admin_reads_the_password_from_stdin_when_asked(
    process_backend: Backend, migrated_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_here(
        migrated_env, *create_admin_args("piped@example.com"), "--password-stdin", stdin="a piped password\n"
    )

    assert result.returncode == 0, result.stderr
    assert "a piped password" not in result.stdout + result.stderr
    with serving(migrated_env, tmp_path) as server:
        assert sign_in(server.url, "piped@example.com", "a piped password").status_code == 200


def test_create_admin_without_a_terminal_or_a_password_says_how_to_give_one(
    process_backend: Backend, migrated_env: dict[str, str]
) -> None:
    result = run_here(migrated_env, *create_admin_args("untyped@example.com"))

    assert result.returncode == 1
    assert "--password-stdin" in result.stderr
    assert "INKWELL_ADMIN_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr


def on_a_terminal(env: dict[str, str], args: list[str], typed: list[str]) -> tuple[int, str]:
    """`inkwell ARGS` on a terminal of its own (a pseudo-terminal), typing each of `typed` once it asks
    (a prompt ends with ": "); the exit status, and everything the terminal showed."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child, on the pseudo-terminal: it becomes the command, and never returns to pytest
        try:
            os.execve(INKWELL, [INKWELL, *args], env)  # noqa: S606 (the inkwell program, no shell)
        finally:
            os._exit(127)
    shown = b""
    try:
        for line in typed:
            # Typed only after the space: click writes "Password:", then getpass turns the echo off
            # (dropping anything typed before) and writes the " ".
            asked = len(shown)
            while not shown[asked:].endswith(b": "):
                chunk = read_terminal(terminal)
                assert chunk, f"the command ended without asking: {shown!r}"
                shown += chunk
            os.write(terminal, line.encode() + b"\n")
        while chunk := read_terminal(terminal):
            shown += chunk
    except BaseException:
        os.kill(pid, signal.SIGKILL)  # it may be waiting for input that will never come
        raise
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(terminal)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def read_terminal(terminal: int) -> bytes:
    ready, _, _ = select.select([terminal], [], [], 60)
    assert ready, "the command neither asked nor finished within 60 s"
    try:
        return os.read(terminal, 4096)
    except OSError:  # the command ended and closed the terminal
        return b""


def test_create_admin_asks_on_the_terminal_twice_without_showing_the_password(
    process_backend: Backend, migrated_env: dict[str, str]
) -> None:
    status, shown = on_a_terminal(
        migrated_env, create_admin_args("typed@example.com"), ["a typed password", "a typed password"]
    )

    assert status == 0, shown
    assert "Password:" in shown
    assert "Repeat for confirmation:" in shown
    assert "a typed password" not in shown
    assert "Created admin typed@example.com" in shown


@pytest.fixture(params=["database", "redis"])
def throttled_env(request: pytest.FixtureRequest, migrated_env: dict[str, str]) -> Iterator[dict[str, str]]:
    env = {**migrated_env, "INKWELL_LOGIN_MAX_FAILURES": "3"}
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
