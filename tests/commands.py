"""Running an `inkwell` command inside the test's own process, through the command's own entry point
(click's test runner), with the environment a real process would get.

Far cheaper than a process, whose start imports the whole application: a test that needs what only a
real process shows (a terminal, signals, what the shell prints) starts one with `tests.processes`.
"""

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import chdir, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from inkwell.cli import app
from inkwell.config import get_settings


@dataclass
class Ran:
    """What a command did: the fields of a finished `subprocess.run`."""

    returncode: int
    stdout: str
    stderr: str


def run_here(env: Mapping[str, str], *args: str, cwd: Path | None = None, stdin: str | None = None) -> Ran:
    """`inkwell ARGS` run with exactly `env` as its environment. An exception that escapes the command (what
    a user would see as a traceback) fails the test."""
    changes: dict[str, str | None] = {key: None for key in os.environ if key not in env}
    changes.update((key, value) for key, value in env.items() if os.environ.get(key) != value)
    get_settings.cache_clear()  # read once per process: here, once per command
    try:
        with chdir(cwd) if cwd is not None else nullcontext(), logging_kept():
            result = CliRunner().invoke(app, list(args), input=stdin, prog_name="inkwell", env=changes)
    finally:
        get_settings.cache_clear()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return Ran(result.exit_code, result.stdout, result.stderr)


@contextmanager
def logging_kept() -> Iterator[None]:
    """Logging as it was before: `db upgrade` configures it from alembic.ini, as for a process of its own."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    before = {name: (logger.level, logger.disabled) for name, logger in _loggers()}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, logger in _loggers():
            level, logger.disabled = before.get(name, (logging.NOTSET, False))
            logger.setLevel(level)


def _loggers() -> Iterator[tuple[str, logging.Logger]]:
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            yield name, logger
