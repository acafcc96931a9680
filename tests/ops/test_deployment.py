"""The Dockerfile and compose.yaml (no Docker engine runs here): they must name the commands, files and
versions that the documentation, the Makefile and the `inkwell` command really have."""

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from inkwell.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
# The README and the documentation site's pages, where the commands are shown.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCS = {page.relative_to(ROOT): page.read_text() for page in PAGES}
OPERATIONS = DOCS[Path("docs/operations.md")]
MAKEFILE = (ROOT / "Makefile").read_text()


def instructions(name: str) -> list[str]:
    return [line.split(" ", 1)[1] for line in DOCKERFILE.splitlines() if line.startswith(f"{name} ")]


def inkwell_commands(shell: str) -> list[list[str]]:
    """Every `inkwell ...` command in a shell line, as arguments."""
    return [shlex.split(part.strip())[1:] for part in re.findall(r"\binkwell [a-z][^&;|]*", shell)]


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
    shell = " ".join(_json_list(cmd))
    commands = inkwell_commands(shell)
    assert [c[:2] for c in commands] == [["db", "upgrade"], ["serve", "--host"]]
    for command in commands:
        assert_runs(command)
    [healthcheck] = instructions("HEALTHCHECK")
    assert "/healthz" in healthcheck


def _json_list(text: str) -> list[str]:
    loaded = yaml.safe_load(text)  # a JSON array is YAML too
    assert isinstance(loaded, list)
    return [str(item) for item in loaded]


def test_compose_runs_inkwell_on_its_postgresql_with_redis() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "redis", "migrate", "inkwell"} <= set(services)
    pg = services["postgres"]["environment"]
    database_url = (
        f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    )
    for name in ("migrate", "inkwell"):
        assert services[name]["environment"]["DATABASE_URL"] == database_url
        assert services[name]["build"] == "."
        assert_runs(services[name]["command"][1:])
    assert services["migrate"]["command"] == ["inkwell", "db", "upgrade"]
    assert services["inkwell"]["command"][:2] == ["inkwell", "serve"]
    assert services["inkwell"]["environment"]["INKWELL_REDIS_URL"].startswith("redis://redis:6379")
    assert services["inkwell"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_trusts_forwarded_addresses_from_its_networks_gateway_only() -> None:
    command = COMPOSE["services"]["inkwell"]["command"]
    [gateway] = [pool["gateway"] for pool in COMPOSE["networks"]["default"]["ipam"]["config"]]

    assert command[command.index("--forwarded-allow-ips") + 1] == gateway


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
