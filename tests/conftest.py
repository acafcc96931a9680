"""Fixtures: one migrated database per backend, one rolled-back transaction per test."""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.models import metadata
from tests.accounts import (
    CHEAP_HASHING_ENV,
    OPEN_ENV,
    SIGNED_IN_ENV,
    TEST_SECRET_KEY,
    Account,
    make_admin,
    new_account,
)
from tests.apps import app_on, asgi_client
from tests.databases import Backend, create_database, drop_database, migrate, selected_backends
from tests.redis import delete_keys, redis_url, unique_prefix
from tests.smtp import MailSink, mail_sink

BACKENDS = selected_backends()

# The suite runs the API as users get it, sign-in on: the fixtures `settings`, `app`, `client` ... and
# `server_env` for processes. The tutorial's open API (sign-in off) is asked for by name: `open_settings`,
# `open_app`, `open_client` ... and `open_server_env`. Neither mode is taken from the shell running pytest.
os.environ.pop("INKWELL_AUTH", None)
os.environ.pop("INKWELL_SECRET_KEY", None)
os.environ.update(CHEAP_HASHING_ENV)


def pytest_report_header() -> str:
    return "inkwell databases: " + ", ".join(backend.name for backend in BACKENDS)


@pytest.fixture(scope="session", params=BACKENDS, ids=lambda backend: backend.name)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
async def database_url(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A fresh database of the backend, migrated to head by Alembic (never `create_all`)."""
    name = f"inkwell_test_{os.getpid()}"
    url = await create_database(backend, name, str(tmp_path_factory.mktemp(backend.name)))
    engine = create_engine(Settings(database_url=url))
    await migrate(engine)
    await engine.dispose()
    yield url
    await drop_database(backend, name)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    """Sign-in on, as users get it, with the tests' signing key."""
    return Settings(
        database_url=database_url, _env_file=None, auth=True, secret_key=SecretStr(TEST_SECRET_KEY)
    )


@pytest.fixture(scope="session")
def open_settings(database_url: str) -> Settings:
    """The tutorial's open API: sign-in off."""
    return Settings(database_url=database_url, _env_file=None, auth=False)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=database_url, _env_file=None))
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that is rolled back after the test."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        if transaction.is_active:
            await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions whose commits are savepoints inside the test's transaction."""
    return async_sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
def database(connection: AsyncConnection) -> Database:
    """Transactions that are savepoints inside the test's transaction."""
    return Database(connection)


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return app_on(settings, database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


@pytest.fixture
async def account(client: httpx.AsyncClient) -> Account:
    """A user signed up and signed in through `client`: `account.headers` carry its access token."""
    return await new_account(client)


@pytest.fixture
async def admin(client: httpx.AsyncClient, session: AsyncSession) -> Account:
    """An admin signed in through `client`, for a test that acts on anyone's records."""
    return await make_admin(session, await new_account(client))


@pytest.fixture
def open_app(open_settings: Settings, database: Database) -> FastAPI:
    return app_on(open_settings, database)


@pytest.fixture
async def open_client(open_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(open_app) as client:
        yield client


@pytest.fixture
async def committed_sessionmaker(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the real engine whose commits are real; everything is deleted after the test."""
    yield async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    async with engine.begin() as conn:
        # Every table the models know, those that refer to others first.
        for table in reversed(metadata.sorted_tables):
            await conn.execute(delete(table))


@pytest.fixture
def committed_database(
    engine: AsyncEngine, committed_sessionmaker: async_sessionmaker[AsyncSession]
) -> Database:
    """The real engine, whose commits are real; everything is deleted after the test."""
    return Database(engine)


@pytest.fixture
def committed_app(settings: Settings, committed_database: Database) -> FastAPI:
    """The app on its real engine, for tests of concurrency; what they commit is deleted after."""
    return app_on(settings, committed_database)


@pytest.fixture
def committed_open_app(open_settings: Settings, committed_database: Database) -> FastAPI:
    """`committed_app` with sign-in off."""
    return app_on(open_settings, committed_database)


# Tests of whole processes (workers killed, two servers, the CLI) run on one database: PostgreSQL when it
# is among those selected, else SQLite. What they rely on in the database is tested on every one.
PROCESS_BACKEND = next((b.name for b in BACKENDS if b.name == "postgresql"), BACKENDS[0].name)


@pytest.fixture
def process_backend(backend: Backend) -> Backend:
    """The backend of a process test: only PROCESS_BACKEND is generated for one (see below)."""
    assert backend.name == PROCESS_BACKEND
    return backend


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Generate a test only for the databases it runs on: those its `backends` mark names, and only
    PROCESS_BACKEND for a process test, instead of collecting it on the others to skip it there.

    A `parametrize` mark on `backend` takes precedence over the fixture's own parameters.
    """
    if "backend" not in metafunc.fixturenames:
        return
    chosen = BACKENDS
    if (mark := metafunc.definition.get_closest_marker("backends")) is not None:
        chosen = [backend for backend in chosen if backend.name in mark.args]
    if "process_backend" in metafunc.fixturenames:
        chosen = [backend for backend in chosen if backend.name == PROCESS_BACKEND]
    if chosen != BACKENDS:
        metafunc.definition.add_marker(
            pytest.mark.parametrize(
                "backend", chosen, indirect=True, scope="session", ids=[backend.name for backend in chosen]
            )
        )


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The URL of a real Redis (the test is skipped when there is none, unless one was named)."""
    return redis_url()


@pytest.fixture
def redis_prefix(redis_server: str) -> Iterator[str]:
    """A key prefix of the test's own on the shared Redis; its keys are deleted after."""
    prefix = unique_prefix()
    yield prefix
    delete_keys(redis_server, prefix)


@pytest.fixture
async def mail() -> AsyncIterator[MailSink]:
    async with mail_sink() as sink:
        yield sink


@pytest.fixture
async def committed_client(committed_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(committed_app) as client:
        yield client


@pytest.fixture
async def committed_open_client(committed_open_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(committed_open_app) as client:
        yield client


@pytest.fixture
async def server_database(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the backend for a server process (not migrated)."""
    name = f"inkwell_server_{os.getpid()}"
    yield await create_database(backend, name, str(tmp_path))
    await drop_database(backend, name)


@pytest.fixture
def server_env(server_database: str, tmp_path: Path) -> dict[str, str]:
    """The environment of an `inkwell` process on `server_database`, logging JSON lines, sign-in on."""
    return {
        **os.environ,
        "DATABASE_URL": server_database,
        "HOME": str(tmp_path),
        "INKWELL_LOG_FORMAT": "json",
        **SIGNED_IN_ENV,
    }


@pytest.fixture
def open_server_env(server_env: dict[str, str]) -> dict[str, str]:
    """`server_env` with sign-in off: the tutorial's open API."""
    return {**server_env, **OPEN_ENV}
