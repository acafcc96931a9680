"""`inkwell --help` and a mistyped command load typer and the command line's own vocabulary, not the
application: the web framework, the ORM, Alembic and the server are imported by the commands that use
them, when they run. Counted in a real process by the modules it imports (`python -X importtime`), so
that the test depends on what is imported and not on the machine's speed."""

import subprocess
import sys

import pytest

from tests.processes import INKWELL

# Packages only a command's own work needs. Before the imports moved into the commands, `--help`
# imported all of them, 1,288 modules in all.
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "aiosqlite",
    "asyncpg",
    "aiomysql",
    "redis",
    "saq",
    "structlog",
    "opentelemetry",
    "pwdlib",
    "pydantic_settings",
    "inkwell.config",
    "inkwell.db",
    "inkwell.main",
    "inkwell.startup",
)
# `inkwell --help` imports about 330 modules, Python's own included: typer, click and rich.
HELP_MODULES = 450


def imported_modules(*args: str) -> list[str]:
    """The modules `inkwell ARGS` imports, in order, as Python's import-time report names them."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", INKWELL, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    names = [
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    ]
    return [name for name in names if name != "imported package"]  # the report's header


def heavy(modules: list[str]) -> list[str]:
    return [name for name in modules if name.startswith(tuple(f"{root}." for root in HEAVY)) or name in HEAVY]


def test_help_imports_typer_and_not_the_application() -> None:
    modules = imported_modules("--help")

    assert heavy(modules) == []
    assert "typer" in modules
    assert len(modules) < HELP_MODULES, len(modules)


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--help"],
        ["users", "import", "--help"],
        ["jobs", "list", "--help"],
        ["frobnicate"],  # no such command
        ["serve", "--port", "eighty"],  # not a number
        ["users", "import", "missing.jsonl"],  # no such file
    ],
    ids=" ".join,
)
def test_a_commands_help_and_its_usage_mistakes_import_none_of_the_application(args: list[str]) -> None:
    modules = imported_modules(*args)

    assert heavy(modules) == []


# What answering a mistyped setting may load: the settings themselves, and nothing of the application.
SETTINGS = ("pydantic_settings", "inkwell.config")


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("INKWELL_LOG_LEVEL", "loud", ["serve"]),
        ("INKWELL_DB_POOL_SIZE", "many", ["users", "export", "users.jsonl"]),
        ("DATABASE_URL", "nonsense", ["db", "check"]),
        ("DATABASE_URL", "oracle://scott@db/orcl", ["worker"]),
    ],
)
def test_a_mistyped_setting_is_answered_before_the_application_is_imported(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, command: list[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv(variable, value)
    modules = imported_modules(*command)

    assert [name for name in heavy(modules) if not name.startswith(SETTINGS)] == []
    assert "inkwell.config" in modules
