"""The engine, and `Database`: the one way to run a transaction, for requests, the CLI and workers."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, CursorResult, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from inkwell.cache.store import Cache
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


def write_timeout(settings: Settings) -> float:
    """How long a write waits for its turn where writers take turns (SQLite): its busy timeout."""
    return settings.sqlite_busy_timeout_ms / 1000


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


AfterCommit = Callable[[], Awaitable[None]]
_NO_TURN = nullcontext()
TRANSACTION = "inkwell.transaction"


class Transaction:
    """One transaction on one connection: Core statements run on `connection`; ORM work on `session`,
    made on first use on the same connection; `after_commit` callbacks run once it has committed."""

    __slots__ = ("_after_commit", "_session", "_sessionmaker", "cache", "connection", "info")

    def __init__(
        self, connection: AsyncConnection, sessionmaker: async_sessionmaker[AsyncSession], cache: Cache | None
    ) -> None:
        self.connection = connection
        self.cache = cache
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._after_commit: list[AfterCommit] = []
        self.info: dict[str, Any] = {}  # what the code working in the transaction keeps with it

    @property
    def session(self) -> AsyncSession:
        """An ORM session in this transaction, for work where a unit of work pays (it never commits)."""
        if self._session is None:
            self._session = self._sessionmaker(bind=self.connection, info={TRANSACTION: self})
        return self._session

    def after_commit(self, callback: AfterCommit) -> None:
        """Run `callback` once the transaction has committed (never when it rolls back)."""
        self._after_commit.append(callback)

    async def _flush(self) -> None:
        if self._session is not None:
            await self._session.flush()

    async def __aenter__(self) -> "Transaction":
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """The ORM session, if one was made, is closed; the transaction itself is its caller's."""
        if self._session is not None:
            await self._session.close()

    async def _committed(self) -> None:
        for callback in self._after_commit:
            await callback()


def transaction_of(session: AsyncSession | Session) -> Transaction | None:
    """The transaction a session works in, when `Database` made it."""
    found: Transaction | None = session.info.get(TRANSACTION)
    return found


class Database:
    """The one way to the database, for requests, the CLI and workers alike: transactions on an engine.

    In tests it may sit on a connection already in a transaction: each transaction is then a savepoint
    inside it, and everything is rolled back with the test's own.
    """

    def __init__(
        self,
        bind: AsyncEngine | AsyncConnection,
        *,
        cache: Cache | None = None,
        write_timeout: float = 30.0,
    ) -> None:
        """`write_timeout`: the longest a write waits for its turn where writers take turns (SQLite)."""
        self.bind = bind
        self.cache = cache
        self.dialect = bind.dialect
        # SQLite lets one writer in at a time. The others wait in its busy handler, which retries after
        # sleeps growing to 100 ms, in no order: under load a write could wait seconds while newer ones
        # went first. This process's writers take turns in the order they asked instead, and only the one
        # whose turn it is asks SQLite for the lock (other processes still meet SQLite's busy timeout).
        on_sqlite_engine = self.dialect.name == "sqlite" and isinstance(bind, AsyncEngine)
        self._write_turns = asyncio.Lock() if on_sqlite_engine else None
        self._write_timeout = write_timeout
        # Sessions join the transaction as it is: they never commit it, nor open savepoints of their own.
        self._sessionmaker = async_sessionmaker(
            expire_on_commit=False, autoflush=False, join_transaction_mode="rollback_only"
        )
        if isinstance(bind, AsyncEngine):
            # Engines sharing the pool, whose connections carry the options of a write or of a read.
            self._writer: AsyncEngine | None = bind.execution_options(**{WRITE_OPTION: True})
            reads = READ_OPTIONS.get(self.dialect.name, {})
            self._reader: AsyncEngine | None = bind.execution_options(**reads)
        else:
            self._writer = self._reader = None

    @property
    def engine(self) -> AsyncEngine | None:
        return self.bind if isinstance(self.bind, AsyncEngine) else None

    @asynccontextmanager
    async def transaction(self, *, writes: bool = False) -> AsyncIterator[Transaction]:
        """A transaction committed when the block ends (rolled back if it raises); then the callbacks
        registered with `after_commit` run. With `writes`, SQLite takes its write lock at BEGIN, once it
        is the transaction's turn (a TimeoutError after `write_timeout` seconds of waiting)."""
        async with (
            self._write_turn() if writes and self._write_turns is not None else _NO_TURN,
            self._connect(self._writer if writes else self.engine) as connection,
            self._begin(connection),
            self._transaction_on(connection) as tx,
        ):
            yield tx
            await tx._flush()
        await tx._committed()

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[Transaction]:
        """A transaction that only reads, without BEGIN and COMMIT where the database allows it."""
        if self._reader is None:  # on a test's connection: a savepoint, as every transaction there
            assert isinstance(self.bind, AsyncConnection)
            async with self.bind.begin_nested(), self._transaction_on(self.bind) as tx:
                yield tx
            return
        # On an engine, the first statement begins what the database needs, if anything. No context
        # manager here but Inkwell's own and the connection's: each layer is paid by every read.
        async with self._reader.connect() as connection, self._transaction_on(connection) as tx:
            yield tx

    @asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        assert self._write_turns is not None
        # A TimeoutError, like a pool that has no connection to give: a 503 for a request.
        async with asyncio.timeout(self._write_timeout):
            await self._write_turns.acquire()
        try:
            yield
        finally:
            self._write_turns.release()

    def _transaction_on(self, connection: AsyncConnection) -> Transaction:
        return Transaction(connection, self._sessionmaker, self.cache)

    @asynccontextmanager
    async def _connect(self, engine: AsyncEngine | None) -> AsyncIterator[AsyncConnection]:
        if isinstance(self.bind, AsyncConnection):
            yield self.bind
            return
        assert engine is not None
        async with engine.connect() as connection:
            yield connection

    def _begin(self, connection: AsyncConnection) -> AbstractAsyncContextManager[Any]:
        return connection.begin() if self.engine is not None else connection.begin_nested()

    async def dispose(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


@asynccontextmanager
async def open_database(
    settings: Settings, *, cache: Cache | None = None, tracing: "Tracing | None" = None
) -> AsyncIterator[Database]:
    """A database on an engine of its own, disposed when the block ends (for the CLI and workers); its
    statements are traced when `tracing` is given."""
    engine = create_engine(settings)
    if tracing is not None:
        tracing.instrument_engine(engine)
    database = Database(engine, cache=cache, write_timeout=write_timeout(settings))
    try:
        yield database
    finally:
        await database.dispose()


def rowcount(result: object) -> int:
    """How many rows an UPDATE or DELETE statement matched."""
    assert isinstance(result, CursorResult)
    return result.rowcount
