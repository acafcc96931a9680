"""Alembic environment: async engines, Inkwell's metadata and its settings' database URL.

A caller that already holds a connection (the tests, the CLI inside an event loop) passes it as
`config.attributes["connection"]`; otherwise this opens its own async engine.
"""

import asyncio
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from alembic.runtime.environment import NameFilterParentNames, NameFilterType
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from inkwell.config import get_settings
from inkwell.db import async_url
from inkwell.models import metadata
from inkwell.posts.fulltext import FTS_TABLES, SEARCH_INDEXES, SEARCH_VECTOR

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("database_url") or get_settings().database_url
    return async_url(url).render_as_string(hide_password=False)


def modelled(name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames) -> bool:
    """Whether autogenerate compares this object found in the database with the models: all but the full-text
    search objects, which the models cannot describe (the migration that adds them says what they are)."""
    if type_ == "table":
        return name not in FTS_TABLES
    if type_ == "column":
        return (parent_names.get("table_name"), name) != ("posts", SEARCH_VECTOR)
    if type_ == "index":
        return name not in SEARCH_INDEXES
    return True


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=metadata, compare_type=True, include_name=modelled
    )
    with sqlite_foreign_keys_off(connection), context.begin_transaction():
        context.run_migrations()


@contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite's foreign keys off while migrations run, as SQLite's procedure for rebuilding a table asks:
    with them on, dropping the old copy of a table deletes every row that refers to it. The pragma only
    takes effect outside a transaction: it is sent on the driver's connection before Alembic begins its
    own. Revisions that rebuild tables check that it took effect, and check the keys after."""
    if connection.dialect.name != "sqlite":
        yield
        return
    cursor = connection.connection.cursor()
    cursor.execute("PRAGMA foreign_keys")
    enforced = cursor.fetchone()[0]
    cursor.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        if enforced:
            cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


async def run_async_migrations() -> None:
    # Statement parameters stay out of errors and logs, as in the app's engines.
    engine = create_async_engine(database_url(), poolclass=NullPool, hide_parameters=True)
    async with engine.connect() as connection:
        await connection.run_sync(run_migrations)
    await engine.dispose()


def run_offline() -> None:
    context.configure(url=database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (connection := config.attributes.get("connection")) is not None:
    run_migrations(connection)
else:
    asyncio.run(run_async_migrations())
