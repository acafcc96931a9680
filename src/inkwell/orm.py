"""The declarative base, its naming convention and the column types shared by every model."""

from collections.abc import Callable, Collection, Hashable, Iterable
from dataclasses import fields
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, DateTime, MetaData, Row, Table, bindparam
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
    """`created_at` and `updated_at`, set by Inkwell in UTC."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


def versioned(version: Mapped[int]) -> dict[str, Any]:
    """Mapper arguments that make `version` the row's version counter.

    Every ORM UPDATE or DELETE then says `WHERE id = :id AND version = :loaded` and sets
    `version = :loaded + 1`, so a row changed by someone else since it was loaded is never overwritten:
    the statement matches nothing and SQLAlchemy raises `StaleDataError`.
    """
    return {"version_id_col": version}


def changed_values(table: Table, columns: Iterable[str]) -> list[tuple[Column[Any], Any]]:
    """The SET list of an UPDATE of `columns` on a versioned, timestamped table, for `ordered_values`: each
    column to the parameter `new_<column>`, `version` one up, `updated_at` to the parameter `now`.

    A parameter may not share a column's name in an UPDATE (SQLAlchemy refuses it), hence `new_`.
    `change_parameters` gives the values.
    """
    assignments: list[tuple[Column[Any], Any]] = [
        (table.c[column], bindparam(f"new_{column}")) for column in columns
    ]
    return [*assignments, (table.c.version, table.c.version + 1), (table.c.updated_at, bindparam("now"))]


def change_parameters(changes: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """The parameters of a `changed_values` UPDATE that writes `changes` at `now`."""
    parameters = {f"new_{column}": value for column, value in changes.items()}
    parameters["now"] = now
    return parameters


def version_in(table: Table) -> ColumnElement[bool]:
    """The If-Match condition of a write on a versioned table: its version is one of those the header
    names, given as the parameter `versions` (`version_parameters`)."""
    return table.c.version.in_(bindparam("versions", expanding=True))


def version_parameters(versions: Collection[int]) -> dict[str, Any]:
    """The parameter of a `version_in` condition."""
    return {"versions": list(versions)}


RecordT = TypeVar("RecordT", bound=Hashable)


def records(result: Result[Any], record_type: type[RecordT]) -> list[RecordT]:
    """The rows of `result` as `record_type` dataclasses, each column given to the field of its name.

    The columns are matched to the fields once per result rather than by name on every row, which cost
    more than the rest of reading a page of users.
    """
    in_order = _in_field_order(record_type, tuple(result.keys()))
    return [record_type(*in_order(row)) for row in result]


@lru_cache(maxsize=64)
def _in_field_order(record_type: type, columns: tuple[str, ...]) -> Callable[[Row[Any]], Iterable[Any]]:
    names = [field.name for field in fields(record_type)]
    if list(columns) == names:
        return _as_is
    return itemgetter(*(columns.index(name) for name in names))


def _as_is(row: Row[Any]) -> Row[Any]:
    return row
