"""Alembic, driven from Python: the configuration the CLI and the tests share."""

import sys
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

# alembic.ini and migrations/ live at the project root, two levels above this package.
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic_config(
    *, database_url: str | None = None, connection: Connection | None = None, log: bool = True
) -> Config:
    """Alembic's configuration for `database_url` (default: the settings'), or on an open connection."""
    # Alembic's default is the sys.stdout of the moment it was imported: this is the current one.
    config = Config(ALEMBIC_INI, stdout=sys.stdout)
    config.attributes["database_url"] = database_url
    config.attributes["connection"] = connection
    config.attributes["configure_logger"] = log
    return config


def head_revision() -> str | None:
    """The newest revision among the migration scripts."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_known_revision(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
