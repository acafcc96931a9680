"""What keeps a command from running, in one line: the checks `inkwell serve` and `inkwell worker` run
before they start, and the mistakes any command runs into (a bad setting, a database it cannot reach)."""

import asyncio
import errno
import socket
from collections.abc import Awaitable
from pathlib import Path
from typing import cast

from alembic.util.exc import CommandError
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from inkwell.auth.keys import SecretKeyError, signing_key
from inkwell.config import Settings, get_settings, settings_problem
from inkwell.db import create_engine
from inkwell.logs import redact_text
from inkwell.migrations import current_revision, head_revision, is_known_revision
from inkwell.redis_client import create_redis

CONNECT_SECONDS = 10


class NotReady(Exception):
    """Raised with the one line that says what keeps a command from running, and what to do."""


def problem_with(exc: BaseException) -> str | None:
    """The one line for a mistake a command ran into, or None for anything else (a bug: its traceback)."""
    if isinstance(exc, NotReady | SecretKeyError | CommandError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return settings_problem(exc)
    if isinstance(exc, DBAPIError):
        if exc.statement is None:  # raised while connecting
            return _database_error(get_settings(), exc)
        return f"the database refused a statement ({_cause(exc)}){_pooler_hint(exc)}"
    if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):  # not a reader gone (`| head`)
        if exc.filename is not None:
            return f"{exc.filename}: {exc.strerror}"
        return _unreachable(get_settings(), exc)  # a command's connections are to its database
    return None


def _unreachable(settings: Settings, exc: BaseException) -> str:
    return (
        f"cannot reach the database at {_where(settings)} ({_cause(exc)}); "
        "check DATABASE_URL and that the database is running and reachable"
    )


def _database_error(settings: Settings, exc: BaseException) -> str:
    """The one line for an error met on the way to the database's first answer: the server could not
    be reached, it refused the credentials, it has no such database, or it refused the connection or
    the first statement for another reason."""
    if isinstance(exc, DBAPIError) and exc.statement is not None:
        where, cause = _where(settings), _cause(exc)
        return f"the database at {where} refused the first statement ({cause}){_pooler_hint(exc)}"
    match _refusal(_driver_error(exc)):
        case "unreachable":
            return _unreachable(settings, exc)
        case "credentials":
            return (
                f"the database at {_where(settings)} refused the user or password ({_cause(exc)}); "
                "check the credentials in DATABASE_URL"
            )
        case "no database":
            return (
                f"the database at {_where(settings)} does not exist ({_cause(exc)}); "
                "create it, or check the database name in DATABASE_URL"
            )
    return f"the database at {_where(settings)} refused the connection ({_cause(exc)})"


# PostgreSQL's SQLSTATE classes and MariaDB's error numbers, by what they mean to whoever starts Inkwell.
_UNREACHABLE_SQLSTATES = frozenset({"08000", "08001", "08003", "08004", "08006", "57P03"})
_MARIADB_REFUSALS = {
    **dict.fromkeys((2002, 2003, 2005, 2006, 2013), "unreachable"),
    **dict.fromkeys((1044, 1045, 1698), "credentials"),
    1049: "no database",
}
# PgBouncer answers a login it refuses with SQLSTATE 08P01 (protocol violation): its message says why.
_PGBOUNCER_REFUSALS = {
    "password authentication failed": "credentials",
    "no such user": "credentials",
    "no such database": "no database",
}


def _refusal(error: BaseException) -> str | None:
    """unreachable, credentials, no database, or None (another refusal) for a driver's connect error."""
    if isinstance(error, OSError):  # refused, timed out, no such host
        return "unreachable"
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate == "08P01":
            message = str(error)
            if message.startswith("database ") and message.endswith("does not exist"):
                return "no database"  # relayed by PgBouncer from the server
            return next((kind for text, kind in _PGBOUNCER_REFUSALS.items() if text in message), None)
        if sqlstate in _UNREACHABLE_SQLSTATES:
            return "unreachable"
        if sqlstate.startswith("28"):
            return "credentials"
        return "no database" if sqlstate == "3D000" else None
    number = error.args[0] if error.args else None
    return _MARIADB_REFUSALS.get(number) if isinstance(number, int) else None


# A named prepared statement that is missing, or already taken, on the server connection: the mark of a
# transaction-mode pooler in front of a driver that keeps statements from one transaction to the next.
_PREPARED_STATEMENT_SQLSTATES = frozenset({"26000", "42P05"})


def _pooler_hint(exc: BaseException) -> str:
    if getattr(_driver_error(exc), "sqlstate", None) not in _PREPARED_STATEMENT_SQLSTATES:
        return ""
    return (
        "; behind a transaction-mode pooler (PgBouncer's pool_mode = transaction), "
        "set INKWELL_DB_POOLER=transaction"
    )


def _where(settings: Settings) -> str:
    return make_url(settings.database_url).render_as_string(hide_password=True)


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's own exception, when SQLAlchemy wraps it."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return exc.orig.__cause__ or exc.orig
    return exc


def _cause(exc: BaseException) -> str:
    """The error's type and the first line of its message, from the driver when SQLAlchemy wraps it."""
    exc = _driver_error(exc)
    lines = str(exc).strip().splitlines()
    return redact_text(f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__)


async def database_problem(settings: Settings) -> str | None:
    """What keeps the database from serving this version of Inkwell, or None when it is ready."""
    if (missing := missing_folder_problem(settings)) is not None:
        return missing
    engine = create_engine(settings)
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            current = await current_revision(engine)
    except Exception as exc:
        return _database_error(settings, exc)
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


def missing_folder_problem(settings: Settings) -> str | None:
    """A SQLite database in a folder that does not exist, checked before connecting: aiosqlite's thread
    may outlive a failed connect and the event loop with it, and print a traceback of its own."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    folder = Path(url.database).parent
    if folder.is_dir():
        return None
    where = url.render_as_string(hide_password=True)
    return f"cannot reach the database at {where} (the folder {folder} does not exist); check DATABASE_URL"


async def redis_problem(settings: Settings) -> str | None:
    """Why Redis (INKWELL_REDIS_URL) does not answer, or None when it does or is not set."""
    redis = create_redis(settings, timeout=CONNECT_SECONDS)
    if redis is None or settings.redis_url is None:
        return None
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            # redis-py types its commands for its blocking client and its asyncio client at once.
            await cast("Awaitable[bool]", redis.ping())
    except Exception as exc:
        where = redact_text(settings.redis_url.get_secret_value())
        return (
            f"cannot reach Redis at {where} ({_cause(exc)}); "
            "check INKWELL_REDIS_URL and that Redis is running and reachable"
        )
    finally:
        await redis.aclose()
    return None


def auth_problem(settings: Settings) -> str | None:
    """Why tokens cannot be signed (no usable secret key), or None."""
    if not settings.auth:
        return None
    try:
        signing_key(settings)
    except (SecretKeyError, OSError) as exc:
        return str(exc)
    return None


def listen_problem(host: str, port: int, *, elsewhere: str = "--port 8001") -> str | None:
    """Why a command cannot listen on host:port (taken by another program, say), or None; `elsewhere` says
    how to choose another port.

    Tried with the socket options uvicorn binds with, then let go: uvicorn itself would say it in log lines
    around the bare OS error.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        match exc.errno:
            case errno.EADDRINUSE:
                return (
                    f"{where} is in use by another program (an earlier one still running?); stop it, "
                    f"or choose another port: {elsewhere}"
                )
            case errno.EACCES:
                return f"cannot listen on {where}: ports below 1024 need root; use --port 1024 or above"
            case errno.EADDRNOTAVAIL:
                return f"cannot listen on {where}: {host} is not an address of this machine; check --host"
        return f"cannot listen on {where} ({exc.strerror or exc}); check --host and --port"
    return None
