"""Alembic environment: async engines, Inkwell's metadata and its settings' database URL.

A caller that already holds a connection (the tests, the CLI inside an event loop) passes it as
`config.attributes["connection"]`; otherwise this opens its own async engine.
"""

import asyncio
import logging.config

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from inkwell.config import get_settings
from inkwell.db import async_url
from inkwell.models import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("database_url") or get_settings().database_url
    return async_url(url).render_as_string(hide_password=False)


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


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
