"""Checks `inkwell serve` runs before it listens, so a broken deployment says what to do in one line."""

import asyncio
from pathlib import Path

from sqlalchemy.engine import make_url

from inkwell.auth.keys import SecretKeyError, signing_key
from inkwell.config import Settings
from inkwell.db import create_engine
from inkwell.migrations import current_revision, head_revision, is_known_revision

CONNECT_SECONDS = 10


async def database_problem(settings: Settings) -> str | None:
    """What keeps the database from serving this version of Inkwell, or None when it is ready."""
    url = make_url(settings.database_url)
    where = url.render_as_string(hide_password=True)
    folder = _missing_sqlite_folder(settings.database_url)
    if folder is not None:
        return (
            f"cannot reach the database at {where} (the folder {folder} does not exist); check DATABASE_URL"
        )
    engine = create_engine(settings)
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            current = await current_revision(engine)
    except Exception as exc:
        return (
            f"cannot reach the database at {where} ({type(exc).__name__}); "
            "check DATABASE_URL and that the database is running and reachable"
        )
    finally:
        await engine.dispose()
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return f"the database has no tables yet (it needs revision {head}); run `inkwell db upgrade`"
    if not is_known_revision(current):
        return (
            f"the database is at revision {current}, which this version of Inkwell does not know "
            f"(it expects {head}); run the version of Inkwell that migrated it"
        )
    return f"the database is at revision {current} and this version needs {head}; run `inkwell db upgrade`"


def auth_problem(settings: Settings) -> str | None:
    """Why tokens cannot be signed (no usable secret key), or None."""
    if not settings.auth:
        return None
    try:
        signing_key(settings)
    except (SecretKeyError, OSError) as exc:
        return str(exc)
    return None


def _missing_sqlite_folder(database_url: str) -> Path | None:
    # Checked before connecting: aiosqlite's thread may outlive a failed connect and the event loop with it.
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    folder = Path(url.database).parent
    return None if folder.is_dir() else folder
