"""The engine, and `Database`: the one way to run a transaction, for requests, the CLI and workers.

The rule of the data layer, in one sentence: a service runs SQLAlchemy Core statements, built from the
models' tables, on the connection of the `Transaction` it is given, and never commits.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext, suppress
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, CursorResult, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from inkwell.cache.invalidation import STALE, watch_writes
from inkwell.cache.store import Cache, create_cache
from inkwell.config import Settings
from inkwell.replicas import (
    UNREACHABLE,
    Positions,
    Replica,
    Replicas,
    note_position,
    noting,
    write_position,
)

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


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    """An engine for `settings.database_url` (or `url`, a replica's), tuned for its database.

    Statement parameters (password hashes, email addresses) never reach a log line or an error message:
    every engine hides them, from the SQL echo and from the text of the exceptions it raises.
    """
    parsed = async_url(url or settings.database_url)
    if parsed.get_backend_name() == "sqlite":
        return _create_sqlite_engine(parsed, settings)
    return create_async_engine(
        parsed,
        echo=settings.db_echo,
        hide_parameters=True,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_pre_ping=settings.db_pre_ping,
        connect_args=_timeouts(parsed, settings) | _pooler_options(parsed, settings),
    )


def create_replicas(settings: Settings, cache: Cache | None) -> Replicas | None:
    """The replicas `INKWELL_DB_REPLICA_URLS` names, each with an engine like the primary's; None without."""
    if not settings.db_replica_urls:
        return None
    replicas = [Replica(_host_of(url), create_engine(settings, url)) for url in settings.db_replica_urls]
    positions = Positions(
        None if cache is None else cache.redis, prefix=settings.redis_prefix, ttl=settings.db_position_ttl
    )
    return Replicas(
        replicas,
        positions=positions,
        max_lag=settings.db_replica_max_lag,
        wait=settings.db_replica_wait,
        interval=settings.db_replica_check_interval,
    )


def _host_of(url: str) -> str:
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}"


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


class Transaction:
    """One transaction on one connection: services run their statements on `connection` (SQLAlchemy Core,
    built from the models' tables) and never commit; `after_commit` callbacks run once it has committed."""

    __slots__ = ("_after_commit", "cache", "connection", "info", "stale")

    def __init__(self, connection: AsyncConnection, cache: Cache | None) -> None:
        self.connection = connection
        self.cache = cache
        self._after_commit: list[AfterCommit] = []
        self.info: dict[str, Any] = {}  # what the code working in the transaction keeps with it
        # The cached tables its writes changed (noted by `cache.invalidation`), dropped once it commits.
        self.stale: set[str] = set()

    def after_commit(self, callback: AfterCommit) -> None:
        """Run `callback` once the transaction has committed (never when it rolls back)."""
        self._after_commit.append(callback)

    async def _committed(self) -> None:
        if self.stale and self.cache is not None:
            await self.cache.invalidate(self.stale)
        for callback in self._after_commit:
            await callback()


class Database:
    """The one way to the database, for requests, the CLI and workers alike: transactions on an engine.

    `transaction()` is for work that writes, `reads()` for work that only reads, on the primary;
    `replica_reads()` for reads that may be served by a replica. In tests it may sit on a connection
    already in a transaction: each transaction is then a savepoint inside it, and everything is rolled
    back with the test's own.
    """

    def __init__(
        self,
        bind: AsyncEngine | AsyncConnection,
        *,
        cache: Cache | None = None,
        write_timeout: float = 30.0,
        replicas: Replicas | None = None,
    ) -> None:
        """`write_timeout`: the longest a write waits for its turn where writers take turns (SQLite)."""
        self.bind = bind
        self.cache = cache
        self.replicas = replicas
        self.dialect = bind.dialect
        # SQLite lets one writer in at a time. The others wait in its busy handler, which retries after
        # sleeps growing to 100 ms, in no order: under load a write could wait seconds while newer ones
        # went first. This process's writers take turns in the order they asked instead, and only the one
        # whose turn it is asks SQLite for the lock (other processes still meet SQLite's busy timeout).
        on_sqlite_engine = self.dialect.name == "sqlite" and isinstance(bind, AsyncEngine)
        self._write_turns = asyncio.Lock() if on_sqlite_engine else None
        self._write_timeout = write_timeout
        if isinstance(bind, AsyncEngine):
            # Engines sharing the pool, whose connections carry the options of a write or of a read.
            self._writer: AsyncEngine | None = bind.execution_options(**{WRITE_OPTION: True})
            reads = READ_OPTIONS.get(self.dialect.name, {})
            self._reader: AsyncEngine | None = bind.execution_options(**reads)
            if cache is not None:  # only writes pay for the watch
                watch_writes(self._writer.sync_engine)
        else:
            self._writer = self._reader = None
            if cache is not None:
                watch_writes(bind.sync_connection)  # type: ignore[arg-type]

    @property
    def engine(self) -> AsyncEngine | None:
        return self.bind if isinstance(self.bind, AsyncEngine) else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A transaction that writes, committed when the block ends (rolled back if it raises); then the
        cache drops what its writes changed and the callbacks registered with `after_commit` run. On
        SQLite it takes the write lock at BEGIN, once it is its turn (a TimeoutError after
        `write_timeout` seconds of waiting)."""
        async with (
            self._write_turn() if self._write_turns is not None else _NO_TURN,
            self._connect() as connection,
        ):
            async with self._begin(connection):
                tx = Transaction(connection, self.cache)
                with _noting_stale(connection, tx.stale):
                    yield tx
            # For the reads that must see this write, on any replica: a request's (workers and commands
            # read from the primary alone).
            if self.replicas is not None and noting():
                note_position(await write_position(connection))
        await tx._committed()

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[Transaction]:
        """A transaction that only reads, without BEGIN and COMMIT where the database allows it."""
        if self._reader is None:  # on a test's connection: a savepoint, as every transaction there
            assert isinstance(self.bind, AsyncConnection)
            async with self.bind.begin_nested():
                yield Transaction(self.bind, self.cache)
            return
        # On an engine, the first statement begins what the database needs, if anything. No context
        # manager here but the connection's: each layer is paid by every read.
        async with self._reader.connect() as connection:
            yield Transaction(connection, self.cache)

    @asynccontextmanager
    async def replica_reads(self, position: int | None = None) -> AsyncIterator[Transaction]:
        """A transaction that only reads, on a healthy replica that has replayed `position` (when one is
        given), else on the primary. Without replicas, `reads()`."""
        replicas = self.replicas
        replica = None if replicas is None else replicas.choose(position)
        if replicas is None or replica is None:
            if replicas is not None:
                replicas.count("primary", "no_replica")
            async with self.reads() as tx:
                yield tx
            return
        connection = await replicas.open(replica, position)
        if connection is None:  # counted, with the reason
            async with self.reads() as tx:
                yield tx
            return
        try:
            yield Transaction(connection, self.cache)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                replicas.went_down(replica, exc)
            raise
        finally:
            with suppress(*UNREACHABLE):
                await connection.close()

    async def write_position(self) -> int:
        """Where the primary's log stands now (for the replicas' lag)."""
        async with self.reads() as tx:
            return await write_position(tx.connection)

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

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection]:
        if isinstance(self.bind, AsyncConnection):
            yield self.bind
            return
        assert self._writer is not None
        async with self._writer.connect() as connection:
            yield connection

    def _begin(self, connection: AsyncConnection) -> AbstractAsyncContextManager[Any]:
        return connection.begin() if self.engine is not None else connection.begin_nested()

    async def dispose(self) -> None:
        """Close the engine's connections and the cache's, when this database owns an engine."""
        if self.engine is not None:
            if self.cache is not None:
                await self.cache.redis.aclose()
            if self.replicas is not None:
                await self.replicas.dispose()
            await self.engine.dispose()


@contextmanager
def _noting_stale(connection: AsyncConnection, stale: set[str]) -> Iterator[None]:
    """Let the write watch note in `stale` what this transaction's statements change (`watch_writes`).
    Restored after, for a test's savepoints nested on one connection."""
    info = connection.sync_connection.info  # type: ignore[union-attr]
    outer = info.get(STALE)
    info[STALE] = stale
    try:
        yield
    finally:
        if outer is None:
            info.pop(STALE, None)
        else:
            info[STALE] = outer
            outer |= stale


@asynccontextmanager
async def open_database(settings: Settings, *, tracing: "Tracing | None" = None) -> AsyncIterator[Database]:
    """A database on an engine of its own, with the cache when Redis is configured, closed when the block
    ends (for the CLI and workers); its statements and cache commands are traced when `tracing` is given."""
    database = database_for(settings, tracing)
    try:
        yield database
    finally:
        await database.dispose()


def database_for(settings: Settings, tracing: "Tracing | None" = None) -> Database:
    """The database (and cache) `settings` name, traced when `tracing` is given; `dispose` closes both."""
    engine = create_engine(settings)
    cache = create_cache(settings)
    replicas = create_replicas(settings, cache)
    if tracing is not None:
        tracing.instrument_engine(engine)
        for replica in [] if replicas is None else replicas.all:
            tracing.instrument_engine(replica.engine)
        if cache is not None:
            tracing.instrument_redis(cache.redis)
    return Database(engine, cache=cache, write_timeout=write_timeout(settings), replicas=replicas)


def rowcount(result: object) -> int:
    """How many rows an UPDATE or DELETE statement matched."""
    assert isinstance(result, CursorResult)
    return result.rowcount
