"""The declarative models' base, its naming convention, the column types every model shares, and records:
what a statement reads from a model's table, derived from the table's columns.

The models are the schema (and Alembic's source); statements are built from their tables and run on a
transaction's connection (`inkwell.db`). No ORM session loads or flushes them.
"""

from collections.abc import Callable, Iterable
from dataclasses import fields, make_dataclass
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, TypeVar, cast

from sqlalchemy import DateTime, MetaData, Row, Table
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect, Result
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL keeps `timestamptz`; SQLite and MariaDB have no zone, so the value is stored as naive UTC
    (with microseconds) and read back with the UTC zone attached.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime refuses a naive datetime")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "postgresql":
            # asyncpg reads `timestamptz` as an aware datetime in UTC already: no call per value.
            return self.impl_instance.result_processor(dialect, coltype)
        return super().result_processor(dialect, coltype)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Timestamped:
    """`created_at` and `updated_at`, in UTC. `updated_at` moves with `version`, on every change to what the
    API shows of the row (see `inkwell.versioned`), and on nothing else."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# The `info` of a column that no representation of its row shows (a password hash): writing it alone
# changes neither the row's version (its ETag) nor its `updated_at`.
NOT_SHOWN = {"shown": False}
# The `info` of a table whose reads are cached (`inkwell.cache`): every write to it drops them.
CACHED = {"cached": True}


def table_of(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


ModelT = TypeVar("ModelT", bound=Base)
RecordT = TypeVar("RecordT")


def record_of(model: type[ModelT]) -> type[ModelT]:
    """The record type of a model: a frozen dataclass with a field for each column of its table, in the
    table's order, which is what `select(table)` reads. A row becomes a record without the ORM.

    Its fields are the model's columns, so type checkers are told it is the model (each module declares
    `FooRecord = Foo` for them): the same names, the same types. At run time it is only the dataclass.
    """
    table = table_of(model)
    columns = [(column.key, Any) for column in table.columns]
    record = make_dataclass(f"{model.__name__}Record", columns, frozen=True, slots=True)
    record.__doc__ = f"A row of `{table.name}`, as a statement read it."
    record.__module__ = model.__module__
    return cast(type[ModelT], record)


def record(row: Row[Any], record_type: type[RecordT]) -> RecordT:
    """One row of a statement that selects a whole table, as its record."""
    make: Callable[..., RecordT] = record_type
    return make(*row)


def records(result: Result[Any], record_type: type[RecordT]) -> list[RecordT]:
    """The rows of `result` as `record_type` dataclasses, each column given to the field of its name.

    The columns are matched to the fields once per result rather than by name on every row, which cost
    more than the rest of reading a page of users.
    """
    make: Callable[..., RecordT] = record_type
    in_order = _in_field_order(make, tuple(result.keys()))
    return [make(*in_order(row)) for row in result]


@lru_cache(maxsize=64)
def _in_field_order(record_type: Any, columns: tuple[str, ...]) -> Callable[[Row[Any]], Iterable[Any]]:
    names = [field.name for field in fields(record_type)]
    if list(columns) == names:
        return _as_is
    return itemgetter(*(columns.index(name) for name in names))


def _as_is(row: Row[Any]) -> Row[Any]:
    return row
