"""The `inkwell` command: serve the API and manage the database."""

# Each command imports what it needs when it runs, so that `inkwell --help` and a mistyped command load
# typer and not the web framework, the ORM and Alembic (tests/test_cli_imports.py counts the modules).
# The annotations stay unevaluated (typer reads the commands' own when it builds them): the types that
# only the functions' signatures name are imported for the type checker alone.
from __future__ import annotations

import io
import logging
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand
from typer.models import CommandFunctionType

from inkwell.jobs.status import JobStatus
from inkwell.users.formats import FileFormat

if TYPE_CHECKING:
    from inkwell.config import Settings
    from inkwell.jobs.models import OutboxJobRecord
    from inkwell.users import transfer
    from inkwell.users.schemas import UserCreate

# uvloop and httptools (from uvicorn[standard]) instead of asyncio's loop and h11, and no access log:
# each is measured by the benchmark (bench/) and pays for itself. With --workers, uvicorn takes a worker
# that does not answer its health check within 5 s for dead and starts another: on a busy machine a
# worker still importing missed it, and workers were replaced over and over before any could serve.
SERVER_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "access_log": False,
    "timeout_worker_healthcheck": 60,
}


class OneLineProblems(TyperCommand):
    """A command that meets a mistake (a bad setting, a database it cannot reach) with one line on stderr
    naming the command and the cause, and exit status 1, instead of a traceback. Other errors are bugs:
    they keep their traceback."""

    # `ctx` is a click Context of the click typer carries inside it, which it does not export.
    def invoke(self, ctx: Any) -> Any:
        from pydantic import ValidationError

        from inkwell.config import get_settings, settings_problem

        try:
            settings = get_settings()
        except ValidationError as exc:
            # Told before the rest of Inkwell is imported: a mistyped setting is answered at once.
            if (problem := settings_problem(exc)) is None:
                raise
            _exit_saying(ctx, problem)
        from inkwell.startup import missing_folder_problem, problem_with

        try:
            # Before the command opens anything: see missing_folder_problem.
            _stop_if(missing_folder_problem(settings))
            return super().invoke(ctx)
        except Exception as exc:
            if (problem := problem_with(exc)) is None:
                raise  # a bug: its traceback
            _exit_saying(ctx, problem)


def _exit_saying(ctx: Any, problem: str) -> NoReturn:
    """The command's one line for a mistake, on stderr, and exit status 1 (without a traceback)."""
    typer.echo(f"{ctx.command_path}: {problem}", err=True)
    raise typer.Exit(code=1) from None


class Commands(typer.Typer):
    """Every command of these groups is a OneLineProblems."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", OneLineProblems)
        return super().command(*args, **kwargs)


def _stop_if(problem: str | None) -> None:
    from inkwell.startup import NotReady

    if problem is not None:
        raise NotReady(problem)


def _ready_settings() -> Settings:
    """The settings of a command that reads or writes data, once the database is found migrated to this
    version: an empty or older one is named, with the command that fixes it, before anything runs."""
    import asyncio

    from inkwell.config import get_settings
    from inkwell.startup import database_problem

    settings = get_settings()
    _stop_if(asyncio.run(database_problem(settings)))
    return settings


app = Commands(help="Inkwell: a users-and-posts API service.", no_args_is_help=True)
db_app = Commands(help="Database migrations (Alembic).", no_args_is_help=True)
users_app = Commands(
    help="Users: admins, and export and import in bulk (JSON Lines or CSV).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")

FileFormatOption = Annotated[
    FileFormat | None, typer.Option("--format", help="jsonl or csv (default: from the file name).")
]
jobs_app = Commands(help="Background jobs in the outbox.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
mail_app = Commands(help="Mail in development.", no_args_is_help=True)
app.add_typer(mail_app, name="mail")
# The port `inkwell mail catch` listens on unless told otherwise (mail.catcher's).
MAIL_CATCHER_PORT = 1025


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    graceful_timeout: Annotated[
        int, typer.Option(min=0, help="Seconds to let requests in flight finish after SIGTERM.")
    ] = 30,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            help="Take the client's address and scheme from X-Forwarded-For and -Proto of a trusted proxy."
        ),
    ] = True,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="The proxies to trust, comma-separated addresses or networks (10.0.0.0/8), or * for any; "
            "default: $FORWARDED_ALLOW_IPS, else 127.0.0.1 and ::1.",
        ),
    ] = None,
) -> None:
    """Serve the API with uvicorn (after checking that the database is reachable and migrated)."""
    import asyncio

    import uvicorn

    from inkwell.config import get_settings
    from inkwell.logs import configure_logging
    from inkwell.startup import auth_problem, database_problem, listen_problem

    settings = get_settings()
    # The key first: the only command that signs tokens is the only one that needs it.
    _stop_if(
        auth_problem(settings)
        or listen_problem(host, port, elsewhere="--port 8001 (with make: `PORT=8001 make run`)")
        or asyncio.run(database_problem(settings))
    )
    configure_logging(settings)
    if settings.dev_mode:
        logging.getLogger("inkwell").warning(
            "INKWELL_DEV_MODE is on: the sign-in, sign-up and mail limits pass in a minute; "
            "use it for development only"
        )
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler it found:
    # make that handler a clean exit, so a stopped server reports success.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    several = workers > 1 and not reload
    with _sharing_metrics(settings.metrics_dir, several_workers=several):
        uvicorn.run(
            "inkwell.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=None if reload else workers,
            reload=reload,
            log_level=settings.log_level,
            # Inkwell's logging (set up by the app in each worker) renders uvicorn's records too.
            log_config=None,
            timeout_graceful_shutdown=graceful_timeout,
            proxy_headers=proxy_headers,
            forwarded_allow_ips=forwarded_allow_ips,
            **SERVER_OPTIONS,
        )


@app.command()
def seed(
    users: Annotated[int, typer.Option("--users", min=1, help="Users to create.")] = 100,
    posts_per_user: Annotated[int, typer.Option(min=0, help="Posts for each user.")] = 10,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Users per transaction.")] = 1000,
) -> None:
    """Fill the database with demo users and posts, in bulk; the users share a password, printed once."""
    import asyncio

    from inkwell.auth.passwords import Passwords
    from inkwell.db import open_database
    from inkwell.demo_text import DemoRun
    from inkwell.progress import progress
    from inkwell.seed import seed as seed_database

    settings = _ready_settings()
    password = secrets.token_urlsafe(12)

    async def run() -> DemoRun:
        # One hashing for every demo user: they share the password, and so its hash.
        demo = DemoRun(password_hash=await Passwords.from_settings(settings).hash(password))
        async with open_database(settings) as database:
            with progress("seeding users", users, unit="users") as advance:
                await seed_database(
                    database,
                    user_count=users,
                    posts_per_user=posts_per_user,
                    batch_size=batch_size,
                    on_batch=advance,
                    demo=demo,
                )
        return demo

    demo = asyncio.run(run())
    typer.echo(f"Created {users} users and {users * posts_per_user} posts.")
    last = f" to {demo.email(users - 1)}" if users > 1 else ""
    typer.echo(
        f"Sign in as {demo.email(0)}{last} with the password {password} "
        "(shown only now: keep it, or seed again)."
    )


@users_app.command("export")
def export_users(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="The file to write (.jsonl or .csv).")],
    file_format: FileFormatOption = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Users read per query.")] = 1000,
) -> None:
    """Write every user to FILE, in id order (never a credential)."""
    import asyncio

    from inkwell.db import open_database
    from inkwell.progress import progress
    from inkwell.users import transfer

    settings = _ready_settings()
    chosen = file_format or transfer.format_of(file)

    async def run() -> int:
        async with open_database(settings) as database:
            total = await transfer.count_users(database)
            with (
                file.open("w", encoding="utf-8", newline="") as out,
                progress("exporting users", total, unit="users") as advance,
            ):
                return await transfer.export_users(
                    database, out, file_format=chosen, batch_size=batch_size, on_batch=advance
                )

    typer.echo(f"Exported {asyncio.run(run())} users to {file}.")


@users_app.command("import")
def import_users(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The file to read.")],
    file_format: FileFormatOption = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Users per transaction.")] = 1000,
) -> None:
    """Create the users listed in FILE, batch by batch; imported accounts have no password."""
    import asyncio

    from inkwell.db import open_database
    from inkwell.progress import progress
    from inkwell.users import transfer

    settings = _ready_settings()
    chosen = file_format or transfer.format_of(file)

    async def run() -> transfer.ImportReport:
        async with open_database(settings) as database:
            with (
                file.open(encoding="utf-8", newline="") as source,
                progress("importing users", _count_lines(file), unit="lines") as advance,
            ):
                lines = transfer.read_lines(source, chosen)
                return await transfer.import_users(database, lines, batch_size=batch_size, on_batch=advance)

    report = asyncio.run(run())
    for number, problem in report.problems:
        typer.echo(f"{file}:{number}: {problem}", err=True)
    for first, last in report.skipped_batches:
        typer.echo(
            f"{file}: lines {first}-{last} were not imported (a batch is written whole or not at all)",
            err=True,
        )
    typer.echo(f"Imported {report.imported} users from {file}.")
    if report.problems:
        raise typer.Exit(code=1)


@users_app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(help="The admin's email (sign-in name).")],
    name: Annotated[str, typer.Option(help="The admin's display name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (its first line).")
    ] = False,
) -> None:
    """Create an account with admin rights (it may change or delete any user or post).

    The password is asked for on the terminal, or read from standard input (--password-stdin), or taken
    from INKWELL_ADMIN_PASSWORD: never from the command line, which shell history and the process list
    keep.
    """
    import asyncio

    from pydantic import ValidationError

    from inkwell.users.errors import EmailTaken
    from inkwell.users.schemas import UserCreate

    settings = _ready_settings()
    password = _admin_password(settings, from_stdin=password_stdin)
    try:
        fields = UserCreate(email=email, name=name, password=password)
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"inkwell users create-admin: {error['loc'][0]}: {error['msg']}", err=True)
        raise typer.Exit(code=1) from None
    try:
        user_id = asyncio.run(_create_admin(settings, fields))
    except EmailTaken:
        typer.echo(
            f"inkwell users create-admin: {fields.email} is registered already; use set-admin", err=True
        )
        raise typer.Exit(code=1) from None
    typer.echo(f"Created admin {fields.email} (id {user_id}).")


def _admin_password(settings: Settings, *, from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if settings.admin_password is not None:
        return settings.admin_password.get_secret_value()
    if not sys.stdin.isatty():
        typer.echo(
            "inkwell users create-admin: no terminal to ask for the password on; "
            "pipe it in with --password-stdin, or set INKWELL_ADMIN_PASSWORD",
            err=True,
        )
        raise typer.Exit(code=1)
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


async def _create_admin(settings: Settings, fields: UserCreate) -> int:
    from inkwell.auth.passwords import Passwords
    from inkwell.db import open_database
    from inkwell.users import service as users_service

    password_hash = await Passwords.from_settings(settings).hash(fields.password)
    async with (
        open_database(settings) as database,
        database.transaction() as tx,
    ):
        user = await users_service.create_user(tx, data=fields, password_hash=password_hash, is_admin=True)
        return user.id


@users_app.command("set-admin")
def set_admin(
    email: Annotated[str, typer.Argument(help="The account's email.")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Take admin rights away instead.")] = False,
) -> None:
    """Give an existing account admin rights (or take them away with --revoke)."""
    import asyncio

    if not asyncio.run(_set_admin(_ready_settings(), email, admin=not revoke)):
        typer.echo(f"inkwell users set-admin: there is no account {email}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"{email.lower()} is {'no longer ' if revoke else ''}an admin.")


async def _set_admin(settings: Settings, email: str, *, admin: bool) -> bool:
    from inkwell.db import open_database
    from inkwell.users import service as users_service

    async with (
        open_database(settings) as database,
        database.transaction() as tx,
    ):
        return await users_service.set_admin(tx, email, admin=admin) is not None


def _count_lines(path: Path) -> int:
    with path.open("rb") as source:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: source.read(1 << 20), b""))


@mail_app.command("catch")
def catch_mail(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = MAIL_CATCHER_PORT,
) -> None:
    """Catch the mail Inkwell sends, and print each message whole (tokens included); deliver nothing.

    Serve with INKWELL_SMTP_URL=smtp://127.0.0.1:1025 (this port) to read the mails of verification, password
    reset and a new email. For development only: anyone who can read this terminal can use the tokens.
    """
    import asyncio

    from inkwell.mail.catcher import MissingServer, catch
    from inkwell.startup import NotReady, listen_problem

    _stop_if(listen_problem(host, port, elsewhere=f"--port {port + 1}"))
    typer.echo(
        f"Catching mail on {host}:{port} (Ctrl-C stops): serve with INKWELL_SMTP_URL=smtp://{host}:{port}",
        err=True,
    )
    try:
        asyncio.run(catch(host, port, sys.stdout))
    except MissingServer as exc:
        raise NotReady(str(exc)) from None
    except KeyboardInterrupt:
        pass


@app.command()
def worker() -> None:
    """Run background jobs (mail) until stopped: from Redis if INKWELL_REDIS_URL is set, else the database."""
    import asyncio

    # Imported here, not above: `inkwell serve --workers N` imports this module again in every server
    # process, and none of them needs the queue's client (Redis, saq) to answer requests.
    from inkwell.config import get_settings
    from inkwell.job_handlers import JOBS
    from inkwell.jobs.worker import run_worker
    from inkwell.logs import configure_logging
    from inkwell.startup import database_problem, redis_problem

    settings = get_settings()
    # It signs nothing (the mailed tokens are random): the secret key is not checked.
    _stop_if(asyncio.run(database_problem(settings)) or asyncio.run(redis_problem(settings)))
    configure_logging(settings)
    asyncio.run(run_worker(settings, JOBS))


# The files prometheus_client writes, one per process and kind of metric: counter_1234.db,
# gauge_livesum_1234.db. Nothing else in the directory is ever deleted.
METRIC_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


@contextmanager
def _sharing_metrics(named: Path | None, *, several_workers: bool) -> Iterator[None]:
    """With several workers, or a directory named for it, every worker writes its metrics to files in one
    directory and a scrape adds them up.

    The directory is emptied first (an earlier run's counts would be added in) and named in the
    environment, which the workers inherit: prometheus_client reads it when it is imported, so this module
    never imports it. One of Inkwell's own (when none is named) is deleted when the server stops.
    """
    if named is None and not several_workers:
        yield
        return
    directory = named or Path(tempfile.mkdtemp(prefix="inkwell-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for file in directory.iterdir():
        if METRIC_FILE.fullmatch(file.name):
            file.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["INKWELL_METRICS_DIR"] = str(directory)
    try:
        yield
    finally:
        if named is None:
            shutil.rmtree(directory, ignore_errors=True)


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


@db_app.command()
def upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    from alembic import command

    from inkwell.migrations import alembic_config

    command.upgrade(alembic_config(), revision)


@db_app.command()
def downgrade(revision: Annotated[str, typer.Argument()] = "-1") -> None:
    """Migrate the database down to REVISION (default: one step; `base` removes every table)."""
    from alembic import command

    from inkwell.migrations import alembic_config

    command.downgrade(alembic_config(), revision)


@db_app.command()
def current() -> None:
    """Show the database's revision."""
    from alembic import command

    from inkwell.migrations import alembic_config

    command.current(alembic_config(), verbose=True)


@db_app.command()
def check() -> None:
    """Fail when the models and the migrations disagree (the database must be at the newest revision)."""
    from alembic import command

    from inkwell.migrations import alembic_config

    # Without Alembic's log lines and its own "No new upgrade operations detected.": the answer is one
    # line either way (a difference is a CommandError: one line, exit 1).
    config = alembic_config(log=False)
    config.stdout = io.StringIO()
    command.check(config)
    typer.echo("The models and the migrations agree.")


@db_app.command()
def revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the revision does.")],
    autogenerate: Annotated[bool, typer.Option(help="Write the difference from the models.")] = True,
) -> None:
    """Write a new migration script into migrations/versions."""
    from alembic import command

    from inkwell.migrations import alembic_config

    command.revision(alembic_config(), message=message, autogenerate=autogenerate)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many, newest first.")] = 20,
) -> None:
    """List jobs, newest first: id, name, state, attempts, last error."""
    import asyncio

    for job in asyncio.run(_list_jobs(_ready_settings(), status, limit)):
        error = f"  {job.last_error}" if job.last_error else ""
        typer.echo(f"{job.id}\t{job.name}\t{job.status}\t{job.attempts}{error}")


async def _list_jobs(settings: Settings, status: JobStatus | None, limit: int) -> list[OutboxJobRecord]:
    from inkwell.db import open_database
    from inkwell.jobs import service as jobs_service

    async with open_database(settings) as database, database.reads() as tx:
        return list(await jobs_service.list_jobs(tx, status=status, limit=limit))


@jobs_app.command("retry")
def retry_job(job_id: Annotated[int, typer.Argument(help="The id of a dead job.")]) -> None:
    """Give a dead job a fresh set of attempts."""
    import asyncio

    if not asyncio.run(_revive(_ready_settings(), job_id)):
        typer.echo(f"inkwell jobs retry: there is no dead job {job_id}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"Job {job_id} will be tried again.")


async def _revive(settings: Settings, job_id: int) -> bool:
    from inkwell.db import open_database
    from inkwell.jobs import service as jobs_service

    async with open_database(settings) as database, database.transaction() as tx:
        return await jobs_service.revive(tx, job_id)
