"""Engine, session factory and the per-request session that owns the transaction."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, CursorResult, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from inkwell.config import Settings

if TYPE_CHECKING:
    from inkwell.tracing import Tracing

# Plain URLs get the async driver Inkwell ships with.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
}

# Set on the connection of a request that writes, so SQLite takes its write lock up front.
WRITE_OPTION = "inkwell_writes"
# Set on the connection of a request that only reads, so SQLite sends no BEGIN.
READ_OPTION = "inkwell_reads"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Reads skip BEGIN and COMMIT where that saves round trips. PostgreSQL runs them in autocommit (asyncpg
# switches modes without a round trip); SQLite runs them without BEGIN (each aiosqlite call is a hop to
# the connection's thread). MariaDB keeps its transaction: aiomysql needs a round trip each way to
# switch modes, which would cost as much as it saves.
READ_OPTIONS: dict[str, dict[str, Any]] = {
    "postgresql": {"isolation_level": "AUTOCOMMIT"},
    "sqlite": {READ_OPTION: True},
}


def async_url(url: str | URL) -> URL:
    """The URL with an async driver: `postgresql://` becomes `postgresql+asyncpg://`, and so on."""
    parsed = make_url(url)
    if parsed.drivername in ASYNC_DRIVERS:
        parsed = parsed.set(drivername=ASYNC_DRIVERS[parsed.drivername])
    if parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine for `settings.database_url`, tuned for its database.

    Statement parameters (password hashes, email addresses) never reach a log line or an error message:
    every engine hides them, from the SQL echo and from the text of the exceptions it raises.
    """
    url = async_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url, settings)
    return create_async_engine(
        url,
        echo=settings.db_echo,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=settings.db_pre_ping,
        connect_args=_timeouts(url, settings) | _pooler_options(url, settings),
    )


def _timeouts(url: URL, settings: Settings) -> dict[str, Any]:
    """Driver timeouts, so that a server that stops answering costs a request seconds, never a hang."""
    if url.get_backend_name() == "postgresql":
        # asyncpg's command timeout is enforced by the client, so it also ends a wait on a dead network.
        return {"timeout": settings.db_connect_timeout, "command_timeout": settings.db_statement_timeout}
    return {"connect_timeout": max(1, round(settings.db_connect_timeout))}


def _pooler_options(url: URL, settings: Settings) -> dict[str, Any]:
    """What asyncpg needs behind a transaction-mode pooler (PgBouncer's `pool_mode = transaction`).

    Such a pooler hands each transaction, and each statement outside one, to whichever server connection
    is free, so nothing may outlive it on the server. asyncpg's named prepared statements do: a name
    prepared on one server connection is missing on the next ("does not exist"), or already taken there
    by another client ("already exists"). Every statement is prepared unnamed instead, and with both
    statement caches off asyncpg sends it again with each execution: a statement is parsed where it
    runs, reads in autocommit included, and nothing is left on the server. Unique names (SQLAlchemy's
    uuid4 recipe) would fail in autocommit and leave one statement per transaction on the server.
    """
    if settings.db_pooler != "transaction" or url.get_backend_name() != "postgresql":
        return {}
    return {
        "statement_cache_size": 0,  # asyncpg's own cache
        "prepared_statement_cache_size": 0,  # SQLAlchemy's, in its asyncpg adapter
        "prepared_statement_name_func": _unnamed_statement,
    }


def _unnamed_statement() -> str:
    return ""


def _create_sqlite_engine(url: URL, settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        url,
        echo=settings.db_echo,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
    )
    busy_timeout = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine.sync_engine, "connect")
    def configure_connection(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see `begin` below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def begin_transaction(conn: Connection) -> None:
        # A write transaction takes the write lock at BEGIN, where SQLite's busy timeout applies; a
        # deferred one that reads first and writes later fails at once with "database is locked".
        options = conn.get_execution_options()
        if options.get(READ_OPTION, False):
            return  # each statement of a read is a transaction of its own
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE_OPTION, False) else "BEGIN")

    return engine


def create_sessionmaker(
    engine: AsyncEngine, *, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`; `info` is copied into every session's `info` (the cache finds itself there)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info)


def rowcount(result: object) -> int:
    """How many rows an UPDATE or DELETE statement matched."""
    assert isinstance(result, CursorResult)
    return result.rowcount


AfterCommit = Callable[[], Awaitable[None]]
AFTER_COMMIT = "inkwell.after_commit"


def after_commit(session: AsyncSession | Session, callback: AfterCommit) -> None:
    """Run `callback` once the session's transaction has committed (never when it rolls back)."""
    session.info.setdefault(AFTER_COMMIT, []).append(callback)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession], *, writes: bool = False
) -> AsyncIterator[AsyncSession]:
    """A session in one transaction, committed when the block ends (rolled back if it raises); then
    the callbacks registered with `after_commit` run."""
    async with sessionmaker() as session:
        async with session.begin():
            if writes:
                await session.connection(execution_options={WRITE_OPTION: True})
            yield session
        for callback in session.info.pop(AFTER_COMMIT, ()):
            await callback()


@asynccontextmanager
async def open_sessionmaker(
    settings: Settings, *, info: dict[str, Any] | None = None, tracing: "Tracing | None" = None
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on an engine of their own, disposed when the block ends (for the CLI's commands); its
    statements are traced when `tracing` is given."""
    engine = create_engine(settings)
    if tracing is not None:
        tracing.instrument_engine(engine)
    try:
        yield create_sessionmaker(engine, info=info)
    finally:
        await engine.dispose()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request, committed before the response is sent."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    if request.method not in SAFE_METHODS:
        async with transaction(sessionmaker, writes=True) as session:
            yield session
        return
    async with read_session(sessionmaker) as session:
        yield session


@asynccontextmanager
async def read_session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for reads only, without BEGIN and COMMIT where the database allows it."""
    async with sessionmaker() as session, session.begin():
        if (read_options := _read_options(session)) is not None:
            await session.connection(execution_options=read_options)
        yield session


def _read_options(session: AsyncSession) -> dict[str, Any] | None:
    # Only a session with a pooled connection of its own: one joined to an outer transaction keeps it.
    bind = session.bind
    return READ_OPTIONS.get(bind.dialect.name) if isinstance(bind, AsyncEngine) else None


# scope="function" runs the commit when the route returns, so a failed commit can never follow a 2xx.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
