"""Every `inkwell` command meets the mistakes people make with one line on stderr and exit status 1.

A bad DATABASE_URL, a database that does not answer, a setting out of range: each command names itself
and the cause, never the password in the URL, and prints no traceback. The secret key is checked only
where tokens are signed (`inkwell serve`): a weak one stops nothing else.

Every command meets every mistake through the same wrapper (`OneLineProblems`), so the whole table runs
in this process, through the command's own entry point (click's test runner); each mistake also runs
once as a real `inkwell` process, to show that what a user's terminal gets is that one line.
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.accounts import SIGNED_IN_ENV
from tests.commands import Ran, run_here
from tests.processes import INKWELL, free_port

pytestmark = pytest.mark.slow

COMMANDS = [
    ("db", "upgrade"),
    ("db", "current"),
    ("seed", "--users", "1"),
    ("users", "export", "users.jsonl"),
    ("worker",),
    ("jobs", "list"),
    ("serve", "--port", "0"),
]

NOBODY_LISTENS = f"postgresql://inkwell:hunter2@127.0.0.1:{free_port()}/inkwell"

# The mistake's settings, and what the one line says about it.
MISTAKES = {
    "unknown scheme": ({"DATABASE_URL": "foo://inkwell:hunter2@x/inkwell"}, "DATABASE_URL: must start with"),
    "unreachable database": (
        {"DATABASE_URL": NOBODY_LISTENS},
        f"cannot reach the database at {NOBODY_LISTENS.replace('hunter2', '***')} (ConnectionRefusedError",
    ),
    "invalid setting": (
        {"INKWELL_DB_POOL_SIZE": "-3"},
        "INKWELL_DB_POOL_SIZE: Input should be greater than 0",
    ),
    "invalid tracing setting": (
        {"OTEL_TRACES_EXPORTER": "bogus"},
        "OTEL_TRACES_EXPORTER: Input should be 'otlp', 'console' or 'none'",
    ),
}


def env_in(folder: Path, **settings: str) -> dict[str, str]:
    """The environment of a command run in `folder`, on a SQLite database there unless `settings` say."""
    return {
        **os.environ,
        "HOME": str(folder),
        "DATABASE_URL": f"sqlite:///{folder}/inkwell.db",
        "INKWELL_LOG_FORMAT": "json",
        **SIGNED_IN_ENV,
        **settings,
    }


def run(env: dict[str, str], folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`inkwell ARGS` as a real process."""
    return subprocess.run(
        [INKWELL, *args], env=env, cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )


def run_in_test(settings: dict[str, str], folder: Path, *args: str) -> Ran:
    return run_here(env_in(folder, **settings), *args, cwd=folder)


def assert_one_line(
    result: Ran | subprocess.CompletedProcess[str], command: tuple[str, ...], says: str
) -> None:
    named = "inkwell " + " ".join(word for word in command if word.isalpha())
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"{named}: "), result.stderr
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize("mistake", MISTAKES)
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_mistake_is_one_line_and_exit_status_1(
    mistake: str, command: tuple[str, ...], tmp_path: Path
) -> None:
    settings, says = MISTAKES[mistake]

    result = run_in_test(settings, tmp_path, *command)

    assert_one_line(result, command, says)


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_is_one_line_on_the_terminal_of_a_real_process(mistake: str, tmp_path: Path) -> None:
    settings, says = MISTAKES[mistake]

    result = run(env_in(tmp_path, **settings), tmp_path, "db", "upgrade")

    assert_one_line(result, ("db", "upgrade"), says)


def test_a_worker_whose_redis_does_not_answer_stops_with_one_line(tmp_path: Path) -> None:
    settings = {"INKWELL_REDIS_URL": f"redis://:hunter2@127.0.0.1:{free_port()}/0"}
    assert run_in_test(settings, tmp_path, "db", "upgrade").returncode == 0

    result = run_in_test(settings, tmp_path, "worker")

    assert_one_line(result, ("worker",), "cannot reach Redis at redis://:[redacted]@127.0.0.1:")


def test_a_file_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    assert run_in_test({}, tmp_path, "db", "upgrade").returncode == 0

    result = run_in_test({}, tmp_path, "users", "export", "no/such/folder/users.jsonl")

    assert_one_line(result, ("users", "export"), "no/such/folder/users.jsonl: No such file or directory")


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    assert run_in_test({}, tmp_path, "db", "upgrade").returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run(env_in(tmp_path), tmp_path, "serve", "--port", str(port))

    assert_one_line(result, ("serve",), f"127.0.0.1:{port} is in use by another program")
    assert "PORT=8001 make run" in result.stderr


def test_only_serve_needs_a_strong_secret_key(tmp_path: Path) -> None:
    env = env_in(tmp_path, INKWELL_AUTH="on", INKWELL_SECRET_KEY="short")

    # Migrations, the data tools and the worker sign no token: they run.
    for command in [args for args in COMMANDS if args[0] not in ("worker", "serve")]:
        result = run_in_test({"INKWELL_AUTH": "on", "INKWELL_SECRET_KEY": "short"}, tmp_path, *command)
        assert result.returncode == 0, (command, result.stderr)
        assert "SECRET_KEY" not in result.stderr
    assert_worker_starts(env, tmp_path)
    served = run(env, tmp_path, "serve", "--port", "0")

    assert_one_line(served, ("serve",), "INKWELL_SECRET_KEY must be at least 32 bytes")


def assert_worker_starts(env: dict[str, str], folder: Path) -> None:
    log = folder / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([INKWELL, "worker"], env=env, cwd=folder, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while "worker started" not in log.read_text():
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)


# Every command that reads or writes data, and what it needs besides the database.
DATA_COMMANDS = {
    "seed": (("seed", "--users", "1"), {}),
    "users export": (("users", "export", "users.jsonl"), {}),
    "users import": (("users", "import", "users.jsonl"), {}),
    "users create-admin": (
        ("users", "create-admin", "--email", "a@example.com", "--name", "A"),
        {"INKWELL_ADMIN_PASSWORD": "a long enough admin password"},
    ),
    "users set-admin": (("users", "set-admin", "a@example.com"), {}),
    "jobs list": (("jobs", "list"), {}),
    "jobs retry": (("jobs", "retry", "1"), {}),
}


@pytest.mark.parametrize("name", DATA_COMMANDS)
def test_a_data_command_on_a_database_not_migrated_says_to_upgrade_it(tmp_path: Path, name: str) -> None:
    command, settings = DATA_COMMANDS[name]
    (tmp_path / "users.jsonl").write_text('{"email": "b@example.com", "name": "B"}\n')

    result = run_in_test(settings, tmp_path, *command)

    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"inkwell {name}: the database has no tables yet"), line
    assert line.endswith("run `inkwell db upgrade`"), line
