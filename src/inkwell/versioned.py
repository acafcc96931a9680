"""Versioned rows, owned or not: reading, inserting, changing and deleting one row by its id, written once
for every table that has an `id`, a `version` and timestamps (`orm.Timestamped`).

- A change to anything the API shows of a row (every column but those marked `orm.NOT_SHOWN`) adds one to
  its `version` (its ETag) and sets its `updated_at`, in the same UPDATE; a change to hidden columns only
  touches neither.
- `If-Match` is a condition of the write itself (`version IN (...)`), and so is the owner, where the
  table has one: of two writers racing, the second matches nothing.
- A write that matched nothing says why: no such row (404), another owner's (403), another version (412).
- Where the database has no `UPDATE ... RETURNING` (MariaDB), the row is read back after the write, in
  the same transaction; `INSERT` likewise without `RETURNING`. Which path runs depends only on the
  dialect's flags, so tests force the portable one on every database.

A resource declares its `VersionedTable` next to its service; the service keeps what is its own.
Statements are built once per shape and run with parameters: building one cost more CPU than running it.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Delete, Select, Table, Update, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from inkwell.conditional import IfMatch
from inkwell.db import Transaction, rowcount
from inkwell.errors import Forbidden, InkwellError, PreconditionFailed
from inkwell.fields import valid_id
from inkwell.orm import Base, record, table_of, utcnow

RecordT = TypeVar("RecordT")
StatementT = TypeVar("StatementT", Update, Delete)

# An assignment a change brings with it, before its own: (column, SQL expression).
Assignment = tuple[Any, ColumnElement[Any]]


@dataclass(eq=False)
class VersionedTable(Generic[RecordT]):
    """One table's rows by id, read as `record` (see `orm.record_of`).

    `owner` names the column of the user a row belongs to, checked by `owner=` on a write (`not_yours`
    when it is another's); `refused` is what a constraint refusing a write means here (a taken email, a
    missing author).
    """

    model: type[Base]
    record: type[RecordT]
    not_found: type[InkwellError]
    refused: type[InkwellError] | None = None
    owner: str | None = None
    not_yours: type[InkwellError] = Forbidden
    table: Table = field(init=False)
    _statements: dict[tuple[Any, ...], Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.table = table_of(self.model)
        self._by_id = select(self.table).where(self.table.c.id == bindparam("row_id"))
        # FOR NO KEY UPDATE on PostgreSQL: rows that only refer to this one (a post to its author) go on.
        self._locked_by_id = self._by_id.with_for_update(key_share=True)
        self._insert = insert(self.table)
        self._insert_returning = self._insert.returning(*self.table.c)

    def new_value(self, column: str) -> Any:
        """The parameter a change gives `column`'s new value under, for an `also` assignment to compare."""
        return bindparam(f"new_{column}")

    async def get(self, tx: Transaction, row_id: int, *, lock: bool = False) -> RecordT | None:
        """The row, or None; with `lock`, locked against other writers until the transaction ends."""
        if not valid_id(row_id):
            return None
        statement = self._locked_by_id if lock else self._by_id
        row = (await tx.connection.execute(statement, {"row_id": row_id})).first()
        return None if row is None else record(row, self.record)

    async def insert(self, tx: Transaction, values: Mapping[str, Any]) -> RecordT:
        """Insert a row, created and updated now; `refused` when a constraint refuses it (a unique value
        taken, a missing parent)."""
        now = utcnow()
        values = {"created_at": now, "updated_at": now, **values}
        connection = tx.connection
        try:
            if connection.dialect.insert_returning:
                row = (await connection.execute(self._insert_returning, values)).one()
            else:
                result = await connection.execute(self._insert, values)
                assert result.inserted_primary_key is not None
                row = (
                    await connection.execute(self._by_id, {"row_id": result.inserted_primary_key[0]})
                ).one()
        except IntegrityError as exc:
            raise self._refusal(exc) from exc
        return record(row, self.record)

    async def insert_many(self, tx: Transaction, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert many rows in a few statements (executemany), for bulk tools; nothing is read back."""
        if rows:
            await tx.connection.execute(self._insert, list(rows))

    async def update(
        self,
        tx: Transaction,
        row_id: int,
        changes: Mapping[str, Any],
        *,
        owner: int | None = None,
        if_match: IfMatch | None = None,
        also: Sequence[Assignment] = (),
    ) -> RecordT:
        """Apply `changes` (column: value) to the row, and `also` before them; only if `owner` (when given)
        owns it and, with `if_match`, only at a version it names. The row as it is after."""
        if not valid_id(row_id):
            raise self.not_found
        versions = None if if_match is None else if_match.versions_of(row_id)
        if not changes and not also:
            return await self._checked(tx, row_id, owner, versions)
        connection = tx.connection
        returning = connection.dialect.update_returning
        shape = (tuple(changes), tuple(also), owner is not None, versions is not None, returning)
        parameters = self._conditions(row_id, owner, versions)
        parameters.update({f"new_{column}": value for column, value in changes.items()})
        parameters["now"] = utcnow()
        try:
            result = await connection.execute(self._update_statement(*shape), parameters)
        except IntegrityError as exc:
            raise self._refusal(exc) from exc
        if returning and (row := result.first()) is not None:
            return record(row, self.record)
        if not returning and rowcount(result) == 1:
            # Written, and so locked, by this transaction: reading it back sees the write.
            return await self._read_back(tx, row_id)
        raise await self._why_nothing_matched(tx, row_id, owner)

    async def delete(
        self,
        tx: Transaction,
        row_id: int,
        *,
        owner: int | None = None,
        if_match: IfMatch | None = None,
    ) -> None:
        """Delete the row, under the same conditions as `update`; what refers to it goes with it (the
        foreign keys' ON DELETE CASCADE)."""
        if not valid_id(row_id):
            raise self.not_found
        versions = None if if_match is None else if_match.versions_of(row_id)
        statement = self._delete_statement(owner is not None, versions is not None)
        deleted = rowcount(await tx.connection.execute(statement, self._conditions(row_id, owner, versions)))
        if deleted == 0:
            raise await self._why_nothing_matched(tx, row_id, owner)

    async def _checked(
        self, tx: Transaction, row_id: int, owner: int | None, versions: Collection[int] | None
    ) -> RecordT:
        """The row for a change that changes nothing: the conditions of a write still apply."""
        found = await self.get(tx, row_id)
        if found is None:
            raise self.not_found
        if owner is not None and getattr(found, self._owner_column) != owner:
            raise self.not_yours
        if versions is not None and getattr(found, "version") not in versions:  # noqa: B009
            raise PreconditionFailed
        return found

    async def _read_back(self, tx: Transaction, row_id: int) -> RecordT:
        found = await self.get(tx, row_id)
        assert found is not None, "a row this transaction just changed"
        return found

    async def _why_nothing_matched(self, tx: Transaction, row_id: int, owner: int | None) -> InkwellError:
        """A write that matched no row: no such row (404), another owner's (403), or another version (412)."""
        found = await self.get(tx, row_id)
        if found is None:
            return self.not_found()
        if owner is not None and getattr(found, self._owner_column) != owner:
            return self.not_yours()
        return PreconditionFailed()

    def _refusal(self, exc: IntegrityError) -> Exception:
        """What a constraint's refusal means for this table: `refused`, or the database's own error."""
        return exc if self.refused is None else self.refused()

    @property
    def _owner_column(self) -> str:
        assert self.owner is not None, f"{self.table.name} has no owner column"
        return self.owner

    def _conditions(self, row_id: int, owner: int | None, versions: Collection[int] | None) -> dict[str, Any]:
        conditions: dict[str, Any] = {"row_id": row_id}
        if owner is not None:
            conditions["owner_id"] = owner
        if versions is not None:
            conditions["versions"] = list(versions)
        return conditions

    def _update_statement(
        self,
        columns: tuple[str, ...],
        also: tuple[Assignment, ...],
        by_owner: bool,
        versioned: bool,
        returning: bool,
    ) -> Update:
        key = ("update", columns, also, by_owner, versioned, returning)
        if (statement := self._statements.get(key)) is None:
            table = self.table
            assignments = [*also, *((table.c[column], bindparam(f"new_{column}")) for column in columns)]
            if any(column.info.get("shown", True) for column, _ in assignments):
                assignments += [
                    (table.c.version, table.c.version + 1),
                    (table.c.updated_at, bindparam("now")),
                ]
            statement = self._where(update(table), by_owner=by_owner, versioned=versioned)
            statement = statement.ordered_values(*assignments)
            if returning:
                statement = statement.returning(*table.c)
            self._statements[key] = statement
        return statement

    def _delete_statement(self, by_owner: bool, versioned: bool) -> Delete:
        key = ("delete", by_owner, versioned)
        if (statement := self._statements.get(key)) is None:
            statement = self._statements[key] = self._where(
                delete(self.table), by_owner=by_owner, versioned=versioned
            )
        return statement

    def _where(self, statement: StatementT, *, by_owner: bool, versioned: bool) -> StatementT:
        table = self.table
        statement = statement.where(table.c.id == bindparam("row_id"))
        if by_owner:
            statement = statement.where(table.c[self._owner_column] == bindparam("owner_id"))
        if versioned:
            statement = statement.where(table.c.version.in_(bindparam("versions", expanding=True)))
        return statement

    @property
    def by_id(self) -> Select[Any]:
        """`SELECT` of the row whose id is the parameter `row_id`."""
        return self._by_id
