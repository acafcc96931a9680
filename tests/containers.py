"""The Dockerfile and compose.yaml as the tests read them: no Docker engine runs where Inkwell is
developed, so the tests check what these files name, and run their commands directly."""

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
# The services that run Inkwell's own image.
APP_IMAGE = COMPOSE["x-inkwell"]["image"]
APP_SERVICES: dict[str, Any] = {
    name: service for name, service in COMPOSE["services"].items() if service.get("image") == APP_IMAGE
}


def instructions(name: str) -> list[str]:
    """The arguments of each NAME instruction of the Dockerfile, its continued lines joined."""
    lines = DOCKERFILE.replace("\\\n", " ").splitlines()
    return [line.split(" ", 1)[1] for line in lines if line.startswith(f"{name} ")]


def json_list(text: str) -> list[str]:
    loaded = yaml.safe_load(text)  # a JSON array is YAML too
    assert isinstance(loaded, list)
    return [str(item) for item in loaded]


def image_environment() -> dict[str, str]:
    """The variables the image's ENV lines set."""
    return dict(pair.split("=", 1) for env in instructions("ENV") for pair in shlex.split(env))


def image_command() -> list[str]:
    [cmd] = instructions("CMD")
    return json_list(cmd)


def image_health_check() -> list[str]:
    [healthcheck] = instructions("HEALTHCHECK")
    return json_list(healthcheck.split(" CMD ", 1)[1])


def inkwell_commands(shell: str) -> list[list[str]]:
    """Every `inkwell ...` command in a shell line, as arguments."""
    return [shlex.split(part.strip())[1:] for part in re.findall(r"\binkwell [a-z][^&;|]*", shell)]


def api_script() -> str:
    """The shell script the inkwell service runs, as the shell sees it (compose's `$$` is a `$`)."""
    command = COMPOSE["services"]["inkwell"]["command"]
    assert command[:2] == ["sh", "-ec"]
    return str(command[2]).replace("$$", "$")


def health_check(service: str) -> list[str]:
    """The command of a compose service's health check."""
    test = APP_SERVICES[service]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return [str(arg) for arg in test[1:]]
