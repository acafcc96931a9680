"""The databases the suite runs on, and how to make a fresh, migrated one of each."""

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from inkwell.db import async_url
from inkwell.migrations import alembic_config

DEFAULT_SERVERS = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/postgres",
    "mariadb": "mysql://root@127.0.0.1:3306/mysql",
}
ALL_BACKENDS = ("sqlite", "postgresql", "mariadb")


@dataclass(frozen=True)
class Backend:
    name: str
    server_url: str | None  # the server's maintenance database; None for SQLite


def selected_backends() -> list[Backend]:
    """The backends named in INKWELL_TEST_DATABASES, or SQLite plus every server that answers."""
    names = os.environ.get("INKWELL_TEST_DATABASES", "").replace(",", " ").split()
    if not names:
        names = ["sqlite", *(name for name in DEFAULT_SERVERS if _answers(_server_url(name)))]
    unknown = set(names) - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(f"INKWELL_TEST_DATABASES: unknown {sorted(unknown)}; use {ALL_BACKENDS}")
    return [Backend(name, None if name == "sqlite" else _server_url(name)) for name in names]


def _server_url(name: str) -> str:
    return os.environ.get(f"INKWELL_TEST_{name.upper()}_URL", DEFAULT_SERVERS[name])


def _answers(url: str) -> bool:
    parsed = make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 0), timeout=0.5):
            return True
    except OSError:
        return False


async def create_database(backend: Backend, name: str, sqlite_dir: str) -> str:
    """Create an empty database called `name` and return its URL."""
    if backend.server_url is None:
        return f"sqlite:///{sqlite_dir}/{name}.db"
    server = make_url(backend.server_url)
    admin = create_async_engine(async_url(server), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            charset = " CHARACTER SET utf8mb4" if backend.name == "mariadb" else ""
            await conn.execute(text(f"CREATE DATABASE {name}{charset}"))
    finally:
        await admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


async def drop_database(backend: Backend, name: str) -> None:
    if backend.server_url is None:
        return
    admin = create_async_engine(async_url(backend.server_url), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            force = " WITH (FORCE)" if backend.name == "postgresql" else ""
            await conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
    finally:
        await admin.dispose()


async def migrate(engine: AsyncEngine, revision: str = "head", *, down: bool = False) -> None:
    """Run Alembic on the engine's database, through its own migration scripts, in the transaction Alembic
    begins (outside one, SQLite's foreign keys can be turned off for a rebuild: see migrations/env.py)."""
    async with engine.connect() as conn:
        await conn.run_sync(_run_alembic, revision, down)


def _run_alembic(connection: object, revision: str, down: bool) -> None:
    config = alembic_config(connection=connection, log=False)  # type: ignore[arg-type]
    if down:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@contextmanager
def statements_run(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL of every statement run on `engine` meanwhile, as it was sent."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)
