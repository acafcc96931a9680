"""`inkwell seed`, `inkwell users export` and `import`: bulk, streamed, all-or-nothing per batch."""

import io
import json
import os
import pty
import subprocess
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.orm import records, table_of, utcnow
from inkwell.posts.models import Post
from inkwell.seed import seed
from inkwell.users.models import User, UserRecord
from inkwell.users.transfer import FIELDS, FileFormat, ImportReport, export_users, import_users, read_lines
from tests.commands import run_here
from tests.databases import migrate
from tests.processes import INKWELL

USERS = table_of(User)


@pytest.fixture
async def sessions(engine: AsyncEngine) -> AsyncIterator[Database]:
    """A database whose transactions really commit (the tools write batch by batch); everything is
    deleted after."""
    yield Database(engine)
    async with engine.begin() as conn:
        await conn.execute(delete(Post))
        await conn.execute(delete(User))


def ignore(_n: int) -> None:
    pass


async def stored_users(sessions: Database) -> list[UserRecord]:
    async with sessions.reads() as tx:
        return records(await tx.connection.execute(select(USERS).order_by(USERS.c.id)), UserRecord)


async def add_users(sessions: Database, *users: dict[str, object]) -> None:
    now = utcnow()
    async with sessions.transaction() as tx:
        await tx.connection.execute(
            insert(USERS), [{"created_at": now, "updated_at": now, **u} for u in users]
        )


async def export_text(sessions: Database, file_format: FileFormat, batch_size: int = 2) -> str:
    out = io.StringIO(newline="")
    await export_users(sessions, out, file_format=file_format, batch_size=batch_size, on_batch=ignore)
    return out.getvalue()


async def import_text(
    sessions: Database, text: str, file_format: FileFormat, batch_size: int = 3
) -> ImportReport:
    lines = read_lines(io.StringIO(text, newline=""), file_format)
    return await import_users(sessions, lines, batch_size=batch_size, on_batch=ignore)


async def test_seed_creates_users_with_their_posts_and_runs_again(sessions: Database) -> None:
    batches: list[int] = []
    await seed(sessions, user_count=25, posts_per_user=3, batch_size=10, on_batch=batches.append)
    await seed(sessions, user_count=5, posts_per_user=0, batch_size=10, on_batch=ignore)

    async with sessions.transaction() as tx:
        users = await tx.connection.scalar(select(func.count()).select_from(User))
        per_author = (
            await tx.connection.execute(select(Post.author_id, func.count()).group_by(Post.author_id))
        ).all()
    assert users == 30
    assert batches == [10, 10, 5]
    assert len(per_author) == 25
    assert {count for _, count in per_author} == {3}


SAMPLE: tuple[dict[str, object], ...] = (
    {"email": "ada@example.com", "name": "Ada", "bio": 'Wrote "notes", on engines\nand more'},
    {"email": "grace@example.com", "name": "Grâce ☃", "bio": None},
    {"email": "linus@example.com", "name": "Linus", "bio": ""},
)


@pytest.mark.parametrize("file_format", list(FileFormat))
async def test_export_then_import_gives_back_the_same_users(
    sessions: Database, file_format: FileFormat
) -> None:
    await add_users(sessions, *SAMPLE)
    before = await stored_users(sessions)
    exported = await export_text(sessions, file_format)
    async with sessions.transaction() as tx:
        await tx.connection.execute(delete(User))

    report = await import_text(sessions, exported, file_format)

    after = await stored_users(sessions)
    assert (report.imported, report.problems) == (3, [])
    expected = [(u.email, u.name, u.bio, u.created_at, u.updated_at) for u in before]
    if file_format is FileFormat.csv:  # CSV has no null: an empty bio comes back absent
        expected[2] = (*expected[2][:2], None, *expected[2][3:])
    assert [(u.email, u.name, u.bio, u.created_at, u.updated_at) for u in after] == expected


async def test_an_export_holds_the_public_fields_only(sessions: Database) -> None:
    await add_users(sessions, *SAMPLE)

    lines = (await export_text(sessions, FileFormat.jsonl)).splitlines()

    assert FIELDS == ["id", "email", "name", "bio", "created_at", "updated_at"]
    assert [list(json.loads(line)) for line in lines] == [FIELDS] * 3
    assert [json.loads(line)["email"] for line in lines] == [u["email"] for u in SAMPLE]


async def test_a_bad_line_keeps_its_whole_batch_out_and_is_reported(sessions: Database) -> None:
    text = "\n".join(
        [
            '{"email": "a1@example.com", "name": "A1"}',
            '{"email": "a2@example.com", "name": "A2"}',
            '{"email": "a3@example.com", "name": ',  # line 3: cut short
            '{"email": "b1@example.com", "name": "B1"}',
            '{"email": "b2@example.com", "name": "B2", "id": 99}',
            '{"email": "b3@example.com", "name": "B3", "bio": null}',
            '{"email": "c1@example.com", "name": "C1"}',
            '{"email": "secret-person-at-example", "name": "C2"}',  # line 8: not an email
            '["c3@example.com"]',  # line 9: not an object
            "",
            '{"email": "d1@example.com", "name": ""}',  # line 11: empty name
        ]
    )

    report = await import_text(sessions, text, FileFormat.jsonl)

    assert report.imported == 3
    assert report.skipped_batches == [(1, 3), (7, 9), (11, 11)]
    assert [number for number, _ in report.problems] == [3, 8, 9, 11]
    assert report.problems[0][1].startswith("not valid JSON")
    assert report.problems[1][1].startswith("email: value is not a valid email address")
    assert report.problems[2][1] == "not a JSON object"
    assert report.problems[3][1].startswith("name: ")
    assert "secret-person" not in " ".join(problem for _, problem in report.problems)
    assert [u.email for u in await stored_users(sessions)] == [
        "b1@example.com",
        "b2@example.com",
        "b3@example.com",
    ]


async def test_taken_and_repeated_emails_are_reported_by_line(sessions: Database) -> None:
    await add_users(sessions, {"email": "taken@example.com", "name": "T"})
    text = "\n".join(
        [
            '{"email": "new1@example.com", "name": "N"}',
            '{"email": "Taken@Example.com", "name": "T2"}',
            '{"email": "new2@example.com", "name": "N"}',
            '{"email": "twice@example.com", "name": "W"}',
            '{"email": "TWICE@example.com", "name": "W"}',
        ]
    )

    report = await import_text(sessions, text, FileFormat.jsonl)

    assert report.imported == 0
    assert report.problems == [
        (2, "email: already registered"),
        (5, "email: repeats an earlier line of the file"),
    ]
    assert [u.email for u in await stored_users(sessions)] == ["taken@example.com"]


async def test_a_password_in_the_file_is_never_stored(sessions: Database) -> None:
    text = (
        '{"email": "p@example.com", "name": "P", "password": "hunter2-clear", "password_hash": "x$hunter2"}\n'
    )

    report = await import_text(sessions, text, FileFormat.jsonl)

    assert report.imported == 1
    async with sessions.transaction() as tx:
        row = (await tx.connection.execute(select(User.__table__))).one()
    assert not any("hunter2" in str(value) for value in row)
    if "password_hash" in row._mapping:  # an imported account cannot sign in until a password is set
        assert row._mapping["password_hash"] is None


async def test_csv_problems_name_their_line(sessions: Database) -> None:
    no_header = await import_text(sessions, "a@example.com,A\n", FileFormat.csv)
    text = 'email,name,bio\nok@example.com,Ok,"two\nlines"\nextra@example.com,E,b,surplus\nnot-an-email,X,\n'

    report = await import_text(sessions, text, FileFormat.csv, batch_size=10)

    assert no_header.problems == [(1, "the header must name the columns, email and name at least")]
    assert [number for number, _ in report.problems] == [4, 5]
    assert report.problems[0][1] == "more values than columns"
    assert report.imported == 0


def test_an_import_refuses_a_name_that_does_not_stay_on_one_line() -> None:
    jsonl = (
        '{"email": "a@example.com", "name": "Ada\\nBcc: x"}\n{"email": "b@example.com", "name": "B\\u2028"}\n'
    )
    csv = 'email,name\nc@example.com,"Two\r\nlines"\nd@example.com,Dee Dee\n'

    lines = [*read_lines(io.StringIO(jsonl), FileFormat.jsonl), *read_lines(io.StringIO(csv), FileFormat.csv)]

    problem = (
        "name: Value error, must not contain line breaks, control characters or invisible format characters"
    )
    assert [(line.number, line.problem) for line in lines] == [
        (1, problem),
        (2, problem),
        (3, problem),
        (4, None),
    ]


# --- memory stays flat: the peak does not grow with the number of rows ---


@pytest.fixture
async def big_sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    engine = create_engine(Settings(database_url=f"sqlite:///{tmp_path}/big.db", _env_file=None))
    await migrate(engine)
    yield Database(engine)
    await engine.dispose()


async def export_peak(sessions: Database, path: Path) -> int:
    with path.open("w", encoding="utf-8") as out:
        tracemalloc.start()
        await export_users(sessions, out, file_format=FileFormat.jsonl, batch_size=200, on_batch=ignore)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


async def import_peak(sessions: Database, path: Path) -> int:
    with path.open(encoding="utf-8") as source:
        tracemalloc.start()
        report = await import_users(
            sessions, read_lines(source, FileFormat.jsonl), batch_size=500, on_batch=ignore
        )
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert report.problems == []
    return peak


async def test_export_and_import_memory_does_not_grow_with_the_rows(
    big_sqlite: Database, tmp_path: Path
) -> None:
    small, large = 1_000, 10_000
    await seed(big_sqlite, user_count=small, posts_per_user=0, batch_size=1000, on_batch=ignore)
    export_small = await export_peak(big_sqlite, tmp_path / "small.jsonl")
    await seed(big_sqlite, user_count=large - small, posts_per_user=0, batch_size=1000, on_batch=ignore)
    export_large = await export_peak(big_sqlite, tmp_path / "large.jsonl")
    async with big_sqlite.transaction() as tx:
        await tx.connection.execute(delete(User))
    import_small = await import_peak(big_sqlite, tmp_path / "small.jsonl")
    async with big_sqlite.transaction() as tx:
        await tx.connection.execute(delete(User))
    import_large = await import_peak(big_sqlite, tmp_path / "large.jsonl")

    # Ten times the rows; a list of them all would make the peak ten times higher too.
    assert export_large < 1.5 * export_small, (export_small, export_large)
    assert import_large < 1.5 * import_small, (import_small, import_large)
    assert len((tmp_path / "large.jsonl").read_text().splitlines()) == large


# --- the commands ---


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/tools.db"}
    assert run_here(env, "db", "upgrade").returncode == 0
    return env


def test_the_commands_report_in_plain_lines_off_a_terminal(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    seeded = run_here(sqlite_env, "seed", "--users", "30", "--posts-per-user", "2", "--batch-size", "10")
    exported = run_here(sqlite_env, "users", "export", str(tmp_path / "users.csv"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"email": "fresh@example.com", "name": "F"}\n{"email": "x", "name": "X"}\n')
    imported = run_here(sqlite_env, "users", "import", str(bad))

    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout == "Created 30 users and 60 posts.\n"
    assert seeded.stderr.splitlines() == [f"seeding users: {n}/30 users" for n in (10, 20, 30)]
    assert exported.returncode == 0, exported.stderr
    assert len((tmp_path / "users.csv").read_text().splitlines()) == 31
    assert imported.returncode == 1
    assert f"{bad}:2: email: value is not a valid email address" in imported.stderr
    assert f"{bad}: lines 1-2 were not imported" in imported.stderr
    assert imported.stdout == f"Imported 0 users from {bad}.\n"


@pytest.mark.slow  # a real process, on a terminal of its own
def test_the_commands_draw_a_progress_bar_on_a_terminal(sqlite_env: dict[str, str]) -> None:
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [INKWELL, "seed", "--users", "20", "--posts-per-user", "1"],
        env={**sqlite_env, "TERM": "xterm", "COLUMNS": "100"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the process exits
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)

    assert process.wait(timeout=60) == 0
    assert "seeding users" in screen.decode()
    assert "━" in screen.decode()  # rich's bar
    assert "20/20" in screen.decode()
