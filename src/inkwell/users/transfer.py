"""Users to and from files (JSON Lines or CSV), streamed: memory stays flat whatever the row count.

An export holds exactly the public fields of a user (`UserRead`), so no credential ever leaves the
database. An import writes batch by batch, each batch in one transaction: a batch with a bad line is
not written at all, and every bad line is reported with its number.
"""

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import AwareDatetime, ValidationError
from sqlalchemy.exc import IntegrityError

from inkwell.db import Database
from inkwell.orm import utcnow
from inkwell.users import service
from inkwell.users.formats import FileFormat as FileFormat  # where the tests find it
from inkwell.users.schemas import UserFields, UserRead

FIELDS = list(UserRead.model_fields)


def format_of(path: Path) -> FileFormat:
    """CSV for a `.csv` file, JSON Lines for anything else."""
    return FileFormat.csv if path.suffix.lower() == ".csv" else FileFormat.jsonl


class UserImport(UserFields):
    """A line of an import: the fields of a new user, and its timestamps if the file has them.

    Anything else on the line (an id, a password) is ignored: the database assigns ids, and an imported
    account has no password.
    """

    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None


# --- export ---


async def export_users(
    database: Database,
    out: TextIO,
    *,
    file_format: FileFormat,
    batch_size: int,
    on_batch: Callable[[int], None],
) -> int:
    """Write every user to `out`, in id order, one page at a time; return how many."""
    write = _csv_writer(out) if file_format is FileFormat.csv else _jsonl_writer(out)
    written = 0
    last_id = 0
    while True:
        async with database.reads() as tx:
            page = await service.users_after(tx, last_id, limit=batch_size)
        if not page:
            return written
        for user in page:
            write(UserRead.model_validate(user).model_dump(mode="json"))
        written += len(page)
        last_id = page[-1].id
        on_batch(len(page))


async def count_users(database: Database) -> int:
    async with database.reads() as tx:
        return await service.count_users(tx)


def _jsonl_writer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    def write(record: dict[str, Any]) -> None:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")

    return write


def _csv_writer(out: TextIO) -> Callable[[dict[str, Any]], None]:
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    return writer.writerow


# --- import ---


@dataclass
class ImportReport:
    imported: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line number, what is wrong)
    skipped_batches: list[tuple[int, int]] = field(default_factory=list)  # first and last line


@dataclass
class Line:
    number: int
    user: UserImport | None = None
    problem: str | None = None


def read_lines(source: TextIO, file_format: FileFormat) -> Iterator[Line]:
    """Each record of the file, validated as a new user, with its line number (1-based, header included)."""
    records = _csv_records(source) if file_format is FileFormat.csv else _jsonl_records(source)
    for number, record in records:
        if isinstance(record, str):
            yield Line(number, problem=record)
            continue
        try:
            yield Line(number, user=UserImport.model_validate(record))
        except ValidationError as exc:
            yield Line(number, problem=_describe(exc))


def _jsonl_records(source: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, text in enumerate(source, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON ({exc.msg})"
            continue
        yield number, record if isinstance(record, dict) else "not a JSON object"


def _csv_records(source: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.DictReader(source)
    if reader.fieldnames is None or not {"email", "name"} <= set(reader.fieldnames):
        yield 1, "the header must name the columns, email and name at least"
        return
    for row in reader:
        if None in row:
            yield reader.line_num, "more values than columns"
            continue
        # An empty cell is an absent value (CSV has no null).
        yield reader.line_num, {key: value for key, value in row.items() if value != ""}


def _describe(exc: ValidationError) -> str:
    # Names the field and the rule, never the value (which may be private).
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors())


def batches(lines: Iterable[Line], size: int) -> Iterator[list[Line]]:
    batch: list[Line] = []
    for line in lines:
        batch.append(line)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def import_users(
    database: Database,
    lines: Iterable[Line],
    *,
    batch_size: int,
    on_batch: Callable[[int], None],
) -> ImportReport:
    """Insert the users batch by batch; a batch with any problem is left out whole and reported.

    `on_batch` hears how many lines of the file each batch took.
    """
    report = ImportReport()
    lines_read = 0
    for batch in batches(lines, batch_size):
        problems = [(line.number, line.problem) for line in batch if line.problem is not None]
        problems += _repeated_emails(batch)
        if not problems:
            problems = await _insert_batch(database, batch)
        if problems:
            report.problems += sorted(problems)
            report.skipped_batches.append((batch[0].number, batch[-1].number))
        else:
            report.imported += len(batch)
        on_batch(batch[-1].number - lines_read)
        lines_read = batch[-1].number
    return report


def _repeated_emails(batch: list[Line]) -> list[tuple[int, str]]:
    seen: set[str] = set()
    repeated = []
    for line in batch:
        if line.user is None:
            continue
        if line.user.email in seen:
            repeated.append((line.number, "email: repeats an earlier line of the file"))
        seen.add(line.user.email)
    return repeated


async def _insert_batch(database: Database, batch: list[Line]) -> list[tuple[int, str]]:
    rows = [_row(line.user) for line in batch if line.user is not None]
    try:
        async with database.transaction() as tx:
            await service.insert_users(tx, rows)
    except IntegrityError:
        # The whole batch was rolled back; say which lines hold an email that is taken.
        async with database.reads() as tx:
            taken = await service.registered_emails(tx, [row["email"] for row in rows])
        conflicts = [
            (line.number, "email: already registered")
            for line in batch
            if line.user is not None and line.user.email in taken
        ]
        # A taken email that is gone again by now (a concurrent delete): the batch still was not written.
        return conflicts or [(batch[0].number, "the database refused the batch; import it again")]
    return []


def _row(user: UserImport) -> dict[str, Any]:
    now = utcnow()
    created: datetime = user.created_at or now
    return {
        "email": user.email,
        "name": user.name,
        "bio": user.bio,
        "created_at": created,
        "updated_at": user.updated_at or created,
    }
