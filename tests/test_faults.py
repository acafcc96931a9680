"""Faults, for real: PostgreSQL restarting under load, a network gone silent, an exhausted pool.

The restart and the silent network use a PostgreSQL cluster of the test's own (tests/faults.py): the
shared server is never touched. A real restart is the closest thing to the fault itself: sessions get
"terminating connection due to administrator command", new connections are refused while it is down
and told "the database system is starting up" as it comes back.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from itertools import count

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.db import Database, create_engine, write_timeout
from inkwell.main import create_app
from tests.databases import migrate
from tests.factories import make_user
from tests.faults import Instance, TcpProxy, postgres_bindir, private_cluster

pytestmark = pytest.mark.slow

# Every wait on the database is bounded by these, so a request never takes much longer than their sum.
TIMEOUTS = {"db_connect_timeout": 1.5, "db_pool_timeout": 2.0, "db_statement_timeout": 3.0}
LONGEST_REQUEST = sum(TIMEOUTS.values()) + 3.0
RECOVERY = 10.0  # seconds from the database being back to requests succeeding again
WORKERS = 8


@pytest.fixture(scope="module")
def cluster() -> Iterator[Instance]:
    if postgres_bindir() is None:
        pytest.skip("needs PostgreSQL's server programs (initdb, pg_ctl) to run a private cluster")
    with private_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
async def cluster_url(cluster: Instance) -> str:
    engine = create_engine(Settings(database_url=cluster.url, _env_file=None))
    await migrate(engine)
    await engine.dispose()
    return cluster.url


def fault_settings(database_url: str) -> Settings:
    # The open API: these tests are about the database going away, not about who may write.
    settings = Settings(database_url=database_url, _env_file=None, auth=False)
    return settings.model_copy(update={"db_pool_size": 4, "db_max_overflow": 0, **TIMEOUTS})


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its own engine, started and stopped by its lifespan (as `inkwell serve` does)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://inkwell.test") as client:
            yield client


@dataclass(frozen=True)
class Outcome:
    started: float
    finished: float
    status: int
    retry_after: str | None


class Load:
    """Workers that create and read users without pause, recording every answer."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.outcomes: list[Outcome] = []
        self._stop = asyncio.Event()
        self._numbers = count()
        self._run = uuid.uuid4().hex[:8]
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work()) for _ in range(WORKERS)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout=LONGEST_REQUEST * 2)

    async def _work(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            number = next(self._numbers)
            if number % 2:
                response = await self.client.get("/users", params={"limit": 5})
            else:
                user = {"email": f"load{number}-{self._run}@example.com", "name": "Load"}
                response = await self.client.post("/users", json=user)
            self.outcomes.append(
                Outcome(started, time.monotonic(), response.status_code, response.headers.get("retry-after"))
            )
            await asyncio.sleep(0.01)

    def since(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= moment]


async def wait_for_success(load: Load, since: float, *, successes: int = 10) -> float:
    """Seconds from `since` to the first of `successes` answered requests in a row."""
    deadline = since + RECOVERY * 3
    while time.monotonic() < deadline:
        recent = load.since(since)
        statuses = [o.status for o in recent]
        for i in range(len(statuses) - successes + 1):
            if all(200 <= s < 300 for s in statuses[i : i + successes]):
                return recent[i].started - since
        await asyncio.sleep(0.1)
    pytest.fail(f"no recovery within {RECOVERY * 3} s: {statuses[-20:]}")


def assert_only_answers_or_503(outcomes: list[Outcome]) -> None:
    """Every request was answered in time, with its result or a 503 that says when to retry."""
    for outcome in outcomes:
        assert 200 <= outcome.status < 300 or outcome.status == 503, outcome
        if outcome.status == 503:
            assert outcome.retry_after == "1", outcome
        assert outcome.finished - outcome.started <= LONGEST_REQUEST, outcome


async def test_postgresql_restarting_under_load_is_503_then_service_returns_by_itself(
    cluster: Instance, cluster_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(fault_settings(cluster_url)) as client:
        load = Load(client)
        load.start()
        await asyncio.sleep(1)

        stopped_at = time.monotonic()
        await asyncio.to_thread(cluster.stop)
        not_ready = await client.get("/readyz")
        await asyncio.sleep(2)
        await asyncio.to_thread(cluster.start)
        back_at = time.monotonic()
        recovery = await wait_for_success(load, back_at)
        ready = await client.get("/readyz")
        await load.stop()

    assert not_ready.status_code == 503
    assert ready.status_code == 200

    during = [o for o in load.outcomes if stopped_at <= o.started < back_at]
    assert any(o.status == 503 for o in during), during
    assert_only_answers_or_503(load.outcomes)
    assert recovery <= RECOVERY
    assert any(o.status == 201 for o in load.since(back_at))
    # Clients' mistakes are not logged as errors, and neither is the database going away.
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_silent_network_is_503_within_the_timeouts_then_recovers(cluster_url: str) -> None:
    port = int(cluster_url.rsplit(":", 1)[1].split("/")[0])
    async with TcpProxy(port) as proxy:
        proxied = cluster_url.replace(f":{port}/", f":{proxy.port}/")
        async with running(fault_settings(proxied)) as client:
            load = Load(client)
            load.start()
            await asyncio.sleep(1)

            silent_at = time.monotonic()
            proxy.silent = True
            await asyncio.sleep(LONGEST_REQUEST)
            proxy.silent = False
            back_at = time.monotonic()
            recovery = await wait_for_success(load, back_at)
            await load.stop()

    during = [o for o in load.outcomes if silent_at <= o.started < back_at]
    assert any(o.status == 503 for o in during), during
    assert_only_answers_or_503(load.outcomes)
    assert recovery <= RECOVERY


@pytest.fixture
def pool_of_two(open_settings: Settings) -> Settings:
    return open_settings.model_copy(update={"db_pool_size": 2, "db_max_overflow": 0, "db_pool_timeout": 1.0})


@contextlib.asynccontextmanager
async def app_on(settings: Settings, database: Database | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """The app on an engine of its own, built from `settings` (or on `database`), over committed data."""
    database = database or Database(create_engine(settings))
    app: FastAPI = create_app(settings, database=database)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://inkwell.test"
        ) as client:
            yield client
    finally:
        await database.dispose()


@contextlib.asynccontextmanager
async def row_locked(engine: AsyncEngine, user_id: int) -> AsyncIterator[None]:
    """Hold the user's row lock, as a slow transaction would, until the block ends."""
    async with engine.connect() as conn, conn.begin():
        await conn.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": user_id})
        yield


# SQLite queues writers on its own lock, not on the pool.
@pytest.mark.backends("postgresql", "mariadb")
async def test_more_requests_than_connections_get_503_within_the_pool_timeout(
    pool_of_two: Settings, engine: AsyncEngine, committed_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with committed_sessionmaker() as session:
        user = await make_user(session)

    async with app_on(pool_of_two) as client:
        async with row_locked(engine, user.id):
            # Two requests take both connections and wait on the lock; the rest wait for a connection.
            patches = [
                asyncio.create_task(client.patch(f"/users/{user.id}", json={"bio": f"{i}"})) for i in range(6)
            ]
            done, _ = await asyncio.wait(patches, timeout=LONGEST_REQUEST)
        responses = await asyncio.wait_for(asyncio.gather(*patches), timeout=LONGEST_REQUEST)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 503, 503, 503, 503]
    assert len(done) == 4  # the 503s came while the lock was still held: nothing waited past the timeout
    assert all(r.headers["retry-after"] == "1" for r in responses if r.status_code == 503)


@pytest.mark.backends("sqlite")
async def test_a_write_that_waits_its_turn_past_sqlites_busy_timeout_gets_503(
    open_settings: Settings, committed_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with committed_sessionmaker() as session:
        user = await make_user(session)
    impatient = open_settings.model_copy(update={"sqlite_busy_timeout_ms": 200})
    database = Database(create_engine(impatient), write_timeout=write_timeout(impatient))

    async with app_on(impatient, database) as client:
        async with database.transaction():  # another write holds the turn
            waited = await client.patch(f"/users/{user.id}", json={"bio": "later"})
        after = await client.patch(f"/users/{user.id}", json={"bio": "now"})

    assert waited.status_code == 503
    assert waited.headers["retry-after"] == "1"
    assert after.status_code == 200


@pytest.mark.backends("postgresql", "mariadb")
async def test_a_short_wait_for_a_connection_is_queued_and_answered(
    pool_of_two: Settings, engine: AsyncEngine, committed_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with committed_sessionmaker() as session:
        user = await make_user(session)
    patient = pool_of_two.model_copy(update={"db_pool_timeout": LONGEST_REQUEST})

    async with app_on(patient) as client:
        async with row_locked(engine, user.id):
            patches = [
                asyncio.create_task(client.patch(f"/users/{user.id}", json={"bio": f"{i}"})) for i in range(6)
            ]
            await asyncio.sleep(0.5)
        responses = await asyncio.wait_for(asyncio.gather(*patches), timeout=LONGEST_REQUEST * 2)

    assert [r.status_code for r in responses] == [200] * 6
