"""Every write to a cached table drops what was cached from it, once its transaction commits.

A cached read names the table it reads (its namespace in the cache: `posts`); a table is cached when
its model says so (`orm.CACHED`). One listener sees every statement a write transaction runs on its
connection (`watch_writes`), whatever its shape: an INSERT, UPDATE or DELETE of a cached table notes
the table, a DELETE also the cached tables its rows cascade to (from the foreign keys' ON DELETE
CASCADE), and a textual statement, whose tables cannot be known, every cached table. `inkwell.db`
keeps the notes of each transaction and drops those namespaces after it commits (never when it
rolls back).
"""

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import Delete, Insert, Table, TextClause, Update, event
from sqlalchemy.engine import Connection, Engine

from inkwell.models import metadata

# Where a transaction's connection keeps the set of namespaces its writes made stale (`Connection.info`).
STALE = "inkwell.stale"


def watch_writes(target: Engine | Connection) -> None:
    """Note what every statement run through `target` writes to cached tables (see the module's text)."""
    event.listen(target, "after_execute", _note_write)


def _note_write(conn: Connection, statement: Any, *_args: Any) -> None:
    stale: set[str] | None = conn.info.get(STALE)
    if stale is None:
        return
    if isinstance(statement, (Insert, Update, Delete)):
        name = getattr(statement.table, "name", "")
        stale.update(stale_by(name, deletes=isinstance(statement, Delete)))
    elif isinstance(statement, TextClause):
        stale.update(cached_tables())


@lru_cache(maxsize=256)
def stale_by(table_name: str, *, deletes: bool) -> frozenset[str]:
    """The cached tables that a write to `table_name` changes: itself, and where rows cascade from a
    deletion, the tables they cascade to."""
    table = metadata.tables.get(table_name)
    if table is None:
        return frozenset()
    touched = _cascade_from(table) if deletes else {table}
    return frozenset(each.name for each in touched if is_cached(each))


def _cascade_from(table: Table) -> set[Table]:
    """`table` and every table whose rows go when a row of it is deleted (ON DELETE CASCADE), transitively."""
    found = {table}
    for child in metadata.tables.values():
        if child in found:
            continue
        cascades = any(
            key.column.table is table and (key.ondelete or "").upper() == "CASCADE"
            for key in child.foreign_keys
        )
        if cascades:
            found |= _cascade_from(child)
    return found


def is_cached(table: Table) -> bool:
    return bool(table.info.get("cached", False))


def cached_tables() -> Iterable[str]:
    return [table.name for table in metadata.tables.values() if is_cached(table)]
