"""The Dockerfile and compose.yaml, read (no Docker engine runs here): they must name the commands, files,
versions and settings that the documentation, the Makefile and Inkwell really have, and give each
service what it needs. tests/ops/test_containers.py runs their commands."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from inkwell.cli import app
from inkwell.config import Settings
from tests.containers import (
    APP_SERVICES,
    COMPOSE,
    DOCKERFILE,
    ROOT,
    api_script,
    image_environment,
    inkwell_commands,
    instructions,
    json_list,
)

# The README and the documentation site's pages, where the commands are shown.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCS = {page.relative_to(ROOT): page.read_text() for page in PAGES}
OPERATIONS = DOCS[Path("docs/operations.md")]
MAKEFILE = (ROOT / "Makefile").read_text()
SH = shutil.which("sh") or "/bin/sh"


def assert_runs(args: list[str]) -> None:
    """The command and its options exist: `inkwell ARGS --help` accepts them."""
    options = [arg for arg in args if arg.startswith("--")]
    path = [arg for arg in args if not arg.startswith("-")][:2]
    # Wide enough that the help never cuts a long option's name short.
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (args, result.output)
    for option in options:
        assert option in result.output, (args, option)


def test_the_image_installs_uv_of_the_makefiles_version_from_the_lock_file() -> None:
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", MAKEFILE, re.MULTILINE)
    assert makefile_uv is not None
    assert f'"uv=={makefile_uv.group(1)}"' in DOCKERFILE
    syncs = [run for run in instructions("RUN") if run.startswith("uv sync")]
    assert syncs
    assert all("--frozen" in run and "--no-dev" in run for run in syncs)
    assert "$(UV) sync --frozen" in MAKEFILE


def test_the_image_copies_files_that_exist() -> None:
    copies = [copy for copy in instructions("COPY") if not copy.startswith("--from")]
    for copy in copies:
        *sources, _target = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), source
    copied = " ".join(copies)
    for needed in ("uv.lock", "pyproject.toml", "alembic.ini", "migrations", "src"):
        assert needed in copied


def test_the_image_runs_without_privileges_and_migrates_then_serves() -> None:
    [user] = instructions("USER")
    assert user not in {"root", "0"}
    [cmd] = instructions("CMD")
    shell = " ".join(json_list(cmd))
    commands = inkwell_commands(shell)
    assert [c[:2] for c in commands] == [["db", "upgrade"], ["serve", "--host"]]
    for command in commands:
        assert_runs(command)
    [healthcheck] = instructions("HEALTHCHECK")
    assert "/healthz" in healthcheck


def test_compose_runs_inkwell_on_its_postgresql_with_redis() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "redis", "migrate", "inkwell"} <= set(services)
    pg = services["postgres"]["environment"]
    database_url = (
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    )
    for name in ("migrate", "inkwell"):
        assert services[name]["environment"]["DATABASE_URL"] == database_url
    assert services["migrate"]["command"] == ["inkwell", "db", "upgrade"]
    assert_runs(services["migrate"]["command"][1:])
    assert [c[:1] for c in inkwell_commands(api_script())] == [["serve"]]
    assert services["inkwell"]["environment"]["INKWELL_REDIS_URL"].startswith("redis://redis:6379")
    assert services["inkwell"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_serves_with_an_inkwell_command_that_exists() -> None:
    [serve] = inkwell_commands(api_script())

    assert_runs(serve)
    assert serve[serve.index("--forwarded-allow-ips") + 1] == "$gateway"


def test_compose_runs_a_worker_on_the_same_database_and_redis() -> None:
    services = COMPOSE["services"]
    worker, api = services["worker"], services["inkwell"]

    assert worker["command"] == ["inkwell", "worker"]
    assert_runs(worker["command"][1:])
    for name in ("DATABASE_URL", "INKWELL_REDIS_URL"):
        assert worker["environment"][name] == api["environment"][name]
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_never_writes_whole_mails_to_the_log() -> None:
    for name in ("inkwell", "worker"):
        environment = COMPOSE["services"][name]["environment"]
        assert environment.get("INKWELL_MAIL_LOG_BODY", "false") == "false", name


@pytest.mark.parametrize(
    "command",
    [
        "docker build -t inkwell .",
        "docker compose up --build",
        "docker run --rm -p 8000:8000 -e DATABASE_URL",
        "inkwell db upgrade",
        "inkwell serve --host 0.0.0.0 --port 8000 --workers",
    ],
)
def test_the_operations_page_shows_the_deployment_commands(command: str) -> None:
    assert command in OPERATIONS


COMMAND_LINE = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:\.venv/bin/)?inkwell (.*)$")


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.DOTALL)


def test_every_inkwell_command_in_the_docs_exists() -> None:
    checked = 0
    for block in [block for text in DOCS.values() for block in shell_blocks(text)]:
        for line in block.splitlines():
            match = COMMAND_LINE.match(line.split("#")[0].strip())
            if match:
                assert_runs([arg for arg in shlex.split(match.group(1)) if not arg.startswith("[")])
                checked += 1
    assert checked >= 10


@pytest.mark.parametrize("page", sorted(DOCS, key=str), ids=str)
def test_every_make_target_in_the_docs_exists(page: Path) -> None:
    targets = set(re.findall(r"^([a-z-]+):", MAKEFILE, re.MULTILINE))
    blocks = "\n".join(shell_blocks(DOCS[page]))
    in_text = set(re.findall(r"`make ([a-z-]+)`", DOCS[page]))
    named = in_text | set(re.findall(r"^make ([a-z-]+)", blocks, re.MULTILINE))
    assert named <= targets, named - targets


def test_the_readme_shows_make_run_and_make_test() -> None:
    blocks = "\n".join(shell_blocks(DOCS[Path("README.md")]))

    assert {"run", "test"} <= set(re.findall(r"^make ([a-z-]+)", blocks, re.MULTILINE))


def test_compose_gives_the_api_a_secret_key_from_the_environment() -> None:
    key = COMPOSE["services"]["inkwell"]["environment"]["INKWELL_SECRET_KEY"]

    # Required (`:?`): compose stops with the message rather than start a server that would refuse to.
    assert key.startswith("${INKWELL_SECRET_KEY:?")


def test_the_image_keeps_sqlite_and_its_key_in_a_volume_its_user_owns() -> None:
    [user] = instructions("USER")
    [volume] = instructions("VOLUME")
    environment = image_environment()
    database = make_url(environment["DATABASE_URL"]).database

    assert database is not None
    assert Path(database).parent == Path(volume)
    # Docker gives a new volume, the anonymous one of a `docker run` without -v included, the owner of
    # the image's folder.
    assert any(f"chown {user} {volume}" in run for run in instructions("RUN"))


def test_compose_builds_inkwells_image_once_and_never_pulls_it() -> None:
    builders = [name for name, service in COMPOSE["services"].items() if "build" in service]

    assert builders == ["migrate"]
    assert {"migrate", "inkwell", "worker"} <= set(APP_SERVICES)
    assert (
        APP_SERVICES["migrate"]["pull_policy"] == "build"
    )  # a registry's image of that name never replaces it
    for name, service in APP_SERVICES.items():
        if name != "migrate":
            assert service["pull_policy"] == "never", name


def test_each_inkwell_service_has_the_health_check_of_what_it_runs() -> None:
    api, worker, migrate = (APP_SERVICES[name] for name in ("inkwell", "worker", "migrate"))
    [serve] = inkwell_commands(api_script())
    port = serve[serve.index("--port") + 1]

    assert f"http://127.0.0.1:{port}/healthz" in " ".join(api["healthcheck"]["test"])
    assert "async_check_health" in " ".join(worker["healthcheck"]["test"])  # run in test_containers.py
    assert migrate["healthcheck"] == {"disable": True}  # a one-off: it exits when done
    assert set(APP_SERVICES) == {"inkwell", "worker", "migrate"}


def test_every_service_but_the_migration_is_restarted() -> None:
    for name, service in COMPOSE["services"].items():
        expected = {"no"} if name == "migrate" else {"always", "unless-stopped", "on-failure"}
        assert service.get("restart") in expected, name


def setting_names() -> set[str]:
    """Every variable Inkwell reads: its settings by their INKWELL_ names, and their own names."""
    names = set()
    for field_name, field in Settings.model_fields.items():
        names.add(f"INKWELL_{field_name.upper()}")
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice) for choice in field.validation_alias.choices)
    return names


def test_compose_sets_only_variables_inkwell_reads() -> None:
    for name, service in APP_SERVICES.items():
        unknown = set(service["environment"]) - setting_names()
        assert not unknown, (name, unknown)


def test_compose_passes_on_where_mail_links_point_and_who_sends_it() -> None:
    for name in ("inkwell", "worker"):
        environment = APP_SERVICES[name]["environment"]
        for variable in ("INKWELL_PUBLIC_URL", "INKWELL_MAIL_FROM", "INKWELL_SMTP_URL"):
            # No value: compose passes the variable on from its own environment, or leaves it unset.
            assert variable in environment, (name, variable)
            assert environment[variable] is None, (name, variable)


def test_compose_leaves_the_networks_addresses_to_docker() -> None:
    assert "networks" not in COMPOSE
    assert all("networks" not in service for service in COMPOSE["services"].values())


@pytest.mark.skipif(shutil.which("ip") is None, reason="needs ip (iproute2) to read the default route")
def test_the_api_trusts_the_gateway_of_its_default_route() -> None:
    [find_gateway] = [line for line in api_script().splitlines() if line.startswith("gateway=")]
    found = subprocess.run(
        [SH, "-ec", f'{find_gateway}\necho "$gateway"'],
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=True,
    )
    ip = str(shutil.which("ip"))
    route = subprocess.run([ip, "-4", "route", "show", "default"], capture_output=True, text=True, check=True)

    assert route.stdout.split()[:2] == ["default", "via"], route.stdout
    assert found.stdout.strip() == route.stdout.split()[2]
