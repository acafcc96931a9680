"""`inkwell serve` as a process: graceful SIGTERM, clear start-up errors, and what its log holds."""

import json
import os
import re
import socket
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from inkwell.config import Settings
from inkwell.db import create_engine
from inkwell.users.models import User
from tests.accounts import PASSWORD, SIGNED_IN_ENV, bearer
from tests.commands import run_here
from tests.databases import head_revision
from tests.processes import Server, serving
from tests.servers import Server as LoggedServer

pytestmark = pytest.mark.slow


@pytest.fixture
def migrated_env(server_env: dict[str, str]) -> dict[str, str]:
    upgraded = run_here(server_env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return server_env


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """A migrated SQLite file, for behaviour that does not depend on the database; sign-in on."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "INKWELL_LOG_FORMAT": "json",
        **SIGNED_IN_ENV,
    }
    upgraded = run_here(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return env


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def wait_for(condition: object, seconds: float = 20) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def start_request(server: Server, body: bytes, sent: int) -> socket.socket:
    """A POST /users whose headers and the first `sent` bytes of its body have gone out."""
    conn = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    head = (
        "POST /users HTTP/1.1\r\nHost: inkwell\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nX-Request-ID: in-flight\r\n\r\n"
    )
    conn.sendall(head.encode() + body[:sent])
    # A second request answered means the server's event loop has read the first one's bytes.
    assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    return conn


def read_response(conn: socket.socket) -> tuple[int, bytes]:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


async def test_sigterm_finishes_the_request_in_flight_then_exits_0(
    migrated_env: dict[str, str], tmp_path: Path
) -> None:
    body = json.dumps({"email": "late@example.com", "name": "Late", "password": PASSWORD}).encode()
    with serving(migrated_env, tmp_path) as server:
        conn = start_request(server, body, sent=10)
        server.process.send_signal(15)
        wait_for(lambda: refuses_connections(server.port))  # no longer accepting...
        assert server.process.poll() is None  # ...but still at work on the request in flight
        conn.sendall(body[10:])
        status, answer = read_response(conn)
        conn.close()
        returncode = server.stop()

    assert status == 201, answer
    assert json.loads(answer)["email"] == "late@example.com"
    assert returncode == 0, server.stderr
    assert "Traceback" not in server.stderr
    log = [json.loads(line) for line in server.stderr.splitlines()]
    events = [line["event"] for line in log]
    assert events.index("database pool closed") > events.index("request")
    engine = create_engine(Settings(database_url=migrated_env["DATABASE_URL"], _env_file=None))
    async with engine.connect() as conn_db:
        stored = (await conn_db.execute(select(User.email))).scalars().all()
    await engine.dispose()
    assert stored == ["late@example.com"]


def test_sigterm_with_several_workers_exits_0_after_each_closes_its_pool(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    with serving(sqlite_env, tmp_path, "--workers", "2") as server:
        answers = [httpx.get(f"{server.url}/readyz", timeout=10).status_code for _ in range(4)]
        returncode = server.stop()

    assert answers == [200] * 4
    assert returncode == 0, server.stderr
    assert server.stderr.count('"database pool closed"') == 2
    assert "Traceback" not in server.stderr


@pytest.mark.parametrize(
    ("options", "forwarded_is_the_client"),
    [
        (["--forwarded-allow-ips", "127.0.0.1"], True),
        (["--forwarded-allow-ips", "192.0.2.1"], False),  # not the proxy the requests come through
        (["--forwarded-allow-ips", "127.0.0.1", "--no-proxy-headers"], False),
    ],
)
def test_the_client_address_is_the_one_a_trusted_proxy_forwards(
    sqlite_env: dict[str, str], tmp_path: Path, options: list[str], forwarded_is_the_client: bool
) -> None:
    # One sign-up per client address: the address the server sees decides who gets a 429.
    env = {**sqlite_env, "INKWELL_SIGN_UP_LIMIT_PER_ADDRESS": "1"}

    def sign_up(url: str, n: int, client: str) -> int:
        body = {"email": f"forwarded{n}@example.com", "name": "F", "password": "a long password"}
        headers = {"X-Forwarded-For": client}
        return httpx.post(f"{url}/users", json=body, headers=headers, timeout=30).status_code

    with serving(env, tmp_path, *options) as server:
        statuses = [
            sign_up(server.url, 1, "203.0.113.7"),
            sign_up(server.url, 2, "203.0.113.7"),
            sign_up(server.url, 3, "198.51.100.9"),
        ]

    assert statuses == [201, 429, 201 if forwarded_is_the_client else 429]


def test_an_unreachable_database_stops_start_up_with_one_line(tmp_path: Path) -> None:
    cases = {
        "postgresql://inkwell:hunter2@127.0.0.1:9/inkwell": "postgresql://inkwell:***@127.0.0.1:9/inkwell",
        f"sqlite:///{tmp_path}/no/such/folder/x.db": f"sqlite:///{tmp_path}/no/such/folder/x.db",
    }
    for url, shown in cases.items():
        result = run_here({**os.environ, **SIGNED_IN_ENV, "DATABASE_URL": url}, "serve", "--port", "0")

        assert result.returncode == 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"inkwell serve: cannot reach the database at {shown} (")
        assert "check DATABASE_URL" in result.stderr
        assert "hunter2" not in result.stderr


def test_an_unmigrated_database_stops_start_up_saying_run_db_upgrade(server_env: dict[str, str]) -> None:
    result = run_here(server_env, "serve", "--port", "0")

    assert result.returncode == 1
    assert result.stderr == (
        f"inkwell serve: the database has no tables yet (it needs revision {head_revision()}); "
        "run `inkwell db upgrade`\n"
    )


def test_a_database_behind_the_code_stops_start_up_saying_run_db_upgrade(sqlite_env: dict[str, str]) -> None:
    run_here(sqlite_env, "db", "downgrade", "0001")

    result = run_here(sqlite_env, "serve", "--port", "0")

    assert result.returncode == 1
    assert result.stderr == (
        f"inkwell serve: the database is at revision 0001 and this version needs {head_revision()}; "
        "run `inkwell db upgrade`\n"
    )


def test_a_database_ahead_of_the_code_stops_start_up_with_one_line(sqlite_env: dict[str, str]) -> None:
    database = sqlite_env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(database) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")

    result = run_here(sqlite_env, "serve", "--port", "0")

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "at revision 9999, which this version of Inkwell does not know" in result.stderr


SECRETS = [
    "hunter2-Secret",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
    "sess-cookie-value",
    "qs-token-9",
]
EMAILS = ["ada.lovelace@example.com", "grace@example.org"]


def test_no_secret_password_token_or_email_reaches_the_log(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    # Debug level and SQL echo: the log sees every statement (never its parameters). Sign-in alone logs
    # more than a pipe holds, so the log goes to a file (tests/servers.py).
    env = {**sqlite_env, "INKWELL_LOG_LEVEL": "debug", "INKWELL_DB_ECHO": "true"}
    password, token, cookie, query_token = SECRETS
    server = LoggedServer(env, tmp_path).start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        auth = {"Authorization": f"Bearer {token}", "Cookie": f"session={cookie}"}
        created = client.post(
            "/users", json={"email": EMAILS[0], "name": "Ada", "password": password}, headers=auth
        )
        client.patch(f"/users/{created.json()['id']}", json={"email": EMAILS[1]}, headers=auth)
        tokens = client.post("/auth/token", data={"username": EMAILS[0], "password": password}).json()
        client.get(f"/users?token={query_token}&email={EMAILS[0]}", headers=auth)
        client.get(f"/users/{EMAILS[1]}", headers=auth)
        me = client.get("/users/me", headers=bearer(tokens["access_token"]))
        client.post("/users", json={"email": EMAILS[0], "name": "Again", "password": password})
    log = server.stop()

    assert (created.status_code, me.status_code) == (201, 200)
    assert len(re.findall(r'"event": "request"', log)) == 8
    assert "INSERT INTO users" in log  # the statements are there; their secrets are not
    for secret in [*SECRETS, *EMAILS, tokens["access_token"], tokens["refresh_token"]]:
        assert secret not in log, secret
    assert "***@example.com" in log
