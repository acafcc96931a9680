"""How the benchmark serves what it compares Inkwell with: configured as `inkwell serve` serves Inkwell.

A ratio should compare the code on the request path, not Inkwell's configuration with a default one:

- the same uvicorn options (uvloop, httptools, no access log), and a start-up that fails exits instead
  of serving errors;
- the same garbage collector settings, entered by each app's lifespan as Inkwell's does;
- an asyncpg pool that releases a connection without a round trip, as Inkwell's pool does.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import uvicorn

from inkwell.cli import SERVER_OPTIONS
from inkwell.config import Settings
from inkwell.main import collecting_garbage_less_often

# Inkwell's default (INKWELL_GC_THRESHOLD), which the benchmark leaves as it is.
GC_THRESHOLD: int = Settings.model_fields["gc_threshold"].default


@contextmanager
def collecting_garbage_as_inkwell() -> Iterator[None]:
    """Cyclic garbage collected as seldom as Inkwell's, with what start-up loaded frozen.

    At Python's default (every 700 net allocations) a ceiling that imports Inkwell's schemas scans
    their modules' objects again and again under load: measured, a quarter of its CPU per request.
    """
    with collecting_garbage_less_often(GC_THRESHOLD):
        yield


async def keep_session(connection: asyncpg.Connection) -> None:
    """Release a connection as it is: the ceilings' statements leave no session state behind.

    asyncpg's own reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` on
    every release, a second round trip for each request; Inkwell's pool (SQLAlchemy's) only rolls back
    a transaction left open. asyncpg still rolls back an open transaction before calling this.
    """


def open_pool(dsn: str, *, size: int) -> asyncpg.Pool:
    """A pool of `size` connections, opened and closed by `async with`."""
    return asyncpg.create_pool(dsn, min_size=size, max_size=size, reset=keep_session)


def serve(app: Any, port: int) -> None:
    """Serve `app` on 127.0.0.1 until stopped."""
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **SERVER_OPTIONS)
