"""Inkwell behind PgBouncer in transaction mode: each transaction may run on a different server connection.

The migrations go straight to PostgreSQL, as the docs have them (a release step needs no pooler); the
server goes through PgBouncer. Every test leaves a named prepared statement behind on each of the pooler's
server connections first, as any earlier client of the pooler may: with asyncpg's defaults, Inkwell's
first statement collides with it.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.accounts import PASSWORD, bearer, sign_in
from tests.commands import run_here
from tests.databases import Backend
from tests.pgbouncer import POOL_SIZE, PgBouncer
from tests.processes import inkwell, serving

# PgBouncer pools PostgreSQL connections only.
pytestmark = [pytest.mark.slow, pytest.mark.backends("postgresql")]

LEFT_BEHIND = "__asyncpg_stmt_1__"  # the first name asyncpg gives a statement on each connection
CLIENTS = 16
REQUESTS = 200


@pytest.fixture
def pgbouncer(backend: Backend, tmp_path: Path) -> Iterator[PgBouncer]:
    assert backend.server_url is not None
    pooler = PgBouncer(tmp_path, backend.server_url).start()
    yield pooler
    pooler.stop()


@pytest.fixture
def pooled_env(server_env: dict[str, str], pgbouncer: PgBouncer) -> dict[str, str]:
    """The server's environment, through PgBouncer, on a database migrated straight on PostgreSQL."""
    migrated = run_here(server_env, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    database = server_env["DATABASE_URL"].rsplit("/", 1)[1]
    asyncio.run(leave_statements_behind(pgbouncer.url(database)))
    # Every author signs up from this one address; the limit has tests of its own.
    return {
        **server_env,
        "DATABASE_URL": pgbouncer.url(database),
        "INKWELL_SIGN_UP_LIMIT_PER_ADDRESS": "1000",
    }


async def leave_statements_behind(url: str) -> None:
    """PREPARE the name asyncpg uses first on every server connection, and leave it there."""
    connections = [await asyncpg.connect(url, statement_cache_size=0) for _ in range(POOL_SIZE)]
    try:
        # Transactions open at once hold a server connection each: all of the pool's.
        transactions = [connection.transaction() for connection in connections]
        for transaction in transactions:
            await transaction.start()
        for connection in connections:
            await connection.execute(f"DEALLOCATE ALL; PREPARE {LEFT_BEHIND} AS SELECT 1")
        for transaction in transactions:
            await transaction.commit()
    finally:
        for connection in connections:
            await connection.close()


def test_serve_behind_a_transaction_pooler_needs_the_setting(pooled_env: dict[str, str]) -> None:
    result = inkwell(pooled_env, "serve", "--port", "0")

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "refused the first statement (DuplicatePreparedStatementError" in result.stderr
    assert f'prepared statement "{LEFT_BEHIND}" already exists' in result.stderr
    assert result.stderr.endswith("set INKWELL_DB_POOLER=transaction\n")


def test_reads_and_writes_through_a_transaction_pooler(pooled_env: dict[str, str], tmp_path: Path) -> None:
    env = {**pooled_env, "INKWELL_DB_POOLER": "transaction"}

    with serving(env, tmp_path) as server:
        statuses = asyncio.run(mixed_load(server.url))

    assert len(statuses) >= REQUESTS
    assert all(status < 500 for status in statuses), statuses
    assert set(statuses) <= {200, 201}, statuses


async def mixed_load(base_url: str) -> list[int]:
    """Sign-ups, posts, lists and If-Match PATCHes, over `CLIENTS` connections at once."""
    limits = httpx.Limits(max_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        rounds = await asyncio.gather(*(one_author(client, n) for n in range(REQUESTS // 6 + 1)))
    return [status for statuses in rounds for status in statuses]


async def one_author(client: httpx.AsyncClient, n: int) -> list[int]:
    """Seven requests: sign up and in, post, read the lists and the post, and change it under If-Match."""
    account = {"email": f"pooled{n}@example.com", "name": f"Pooled {n}", "password": PASSWORD}
    user = await client.post("/users", json=account)
    if user.status_code != 201:
        return [user.status_code]
    signed_in = await sign_in(client, account["email"])
    if signed_in.status_code != 200:
        return [user.status_code, signed_in.status_code]
    token = bearer(signed_in.json()["access_token"])
    user_id = user.json()["id"]
    post = await client.post(
        f"/users/{user_id}/posts", json={"title": f"Post {n}", "body": "Pooled."}, headers=token
    )
    if post.status_code != 201:
        return [user.status_code, signed_in.status_code, post.status_code]
    post_url = f"/posts/{post.json()['id']}"
    lists = await asyncio.gather(client.get("/posts"), client.get(f"/users/{user_id}/posts"))
    read = await client.get(post_url)
    patched = await client.patch(
        post_url, json={"title": "Changed"}, headers={"If-Match": read.headers["etag"], **token}
    )
    return [
        user.status_code,
        signed_in.status_code,
        post.status_code,
        *(page.status_code for page in lists),
        read.status_code,
        patched.status_code,
    ]


def test_a_password_the_pooler_refuses_is_named_at_start_up(
    pooled_env: dict[str, str], pgbouncer: PgBouncer
) -> None:
    database = pooled_env["DATABASE_URL"].rsplit("/", 1)[1]
    env = {
        **pooled_env,
        "DATABASE_URL": pgbouncer.url(database, password="hunter2"),
        "INKWELL_DB_POOLER": "transaction",
    }

    result = inkwell(env, "serve", "--port", "0")

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert (
        "refused the user or password (ProtocolViolationError: password authentication failed)"
        in result.stderr
    )
    assert "check the credentials in DATABASE_URL" in result.stderr
    assert "hunter2" not in result.stderr
