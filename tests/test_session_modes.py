"""How a request's transaction talks to the database: reads skip BEGIN/COMMIT where that saves round trips."""

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from inkwell.config import Settings
from inkwell.db import create_engine
from inkwell.deps import TransactionDep

# PostgreSQL's now() is the time the transaction began: it moves between two statements only when
# each is a transaction of its own (autocommit).
NOW = text("SELECT now()")
PAUSE = text("SELECT pg_sleep(0.01)")


@pytest.fixture
def probed_client(committed_open_app: FastAPI) -> httpx.AsyncClient:
    @committed_open_app.api_route("/probe", methods=["GET", "POST"])
    async def statements_are_own_transactions(tx: TransactionDep) -> bool:
        before = await tx.connection.scalar(NOW)
        await tx.connection.execute(PAUSE)
        return bool(before != await tx.connection.scalar(NOW))

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=committed_open_app), base_url="http://inkwell.test"
    )


@pytest.mark.backends("sqlite")  # SQLite's own read path
async def test_sqlite_reads_send_no_begin_and_writes_do(committed_open_app: FastAPI) -> None:

    @committed_open_app.api_route("/in-transaction", methods=["GET", "POST"])
    async def in_transaction(tx: TransactionDep) -> bool:
        await tx.connection.execute(text("SELECT 1"))
        raw = await tx.connection.get_raw_connection()
        return bool(raw.driver_connection.in_transaction)  # type: ignore[union-attr]

    transport = httpx.ASGITransport(app=committed_open_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkwell.test") as client:
        read = await client.get("/in-transaction")
        write = await client.post("/in-transaction")

    assert read.json() is False
    assert write.json() is True


@pytest.mark.backends("postgresql")  # autocommit reads are a PostgreSQL optimisation
async def test_postgresql_reads_run_without_begin_and_writes_in_a_transaction(
    probed_client: httpx.AsyncClient,
) -> None:
    async with probed_client:
        read = await probed_client.get("/probe")
        write = await probed_client.post("/probe")

    assert read.json() is True
    assert write.json() is False


@pytest.mark.backends("postgresql", "mariadb")  # a SQLite file has no connection to lose
def test_server_connections_are_not_pinged_unless_asked(open_settings: Settings) -> None:
    default = create_engine(open_settings)
    pinged = create_engine(open_settings.model_copy(update={"db_pre_ping": True}))

    assert default.pool._pre_ping is False
    assert pinged.pool._pre_ping is True
