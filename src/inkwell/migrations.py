"""Alembic, driven from Python: the configuration the CLI and the tests share."""

from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import Connection

# alembic.ini and migrations/ live at the project root, two levels above this package.
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic_config(
    *, database_url: str | None = None, connection: Connection | None = None, log: bool = True
) -> Config:
    """Alembic's configuration for `database_url` (default: the settings'), or on an open connection."""
    config = Config(ALEMBIC_INI)
    config.attributes["database_url"] = database_url
    config.attributes["connection"] = connection
    config.attributes["configure_logger"] = log
    return config
