"""The Makefile finds a Python it can build .venv with, or says in one line what to install.

`make` runs here with a PATH of the test's own: a folder that holds the interpreters the test gives it
(this one, under the name it is to be found by), or none. `make -n` shows the commands it would run
without running them; a failing check runs for real, and stops make before anything is installed.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
# Any newer one is accepted too; this is the one the tests run on.
assert sys.version_info >= (3, 11)

pytestmark = pytest.mark.skipif(MAKE is None, reason="needs make")


def make(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`make ARGS` in the checkout, with PATH=path alone, building a virtualenv that is the test's."""
    # As from a shell: not as a make inside `make test`, whose variables it would take.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHON", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"}
    }
    env["PATH"] = str(path)
    return subprocess.run(
        [str(MAKE), "--no-print-directory", *args, f"VENV={path.parent / 'venv'}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("name", ["python3", "python3.13", "python3.12", "python3.11"])
def test_make_builds_the_virtualenv_with_the_python_it_finds(path: Path, name: str) -> None:
    (path / name).symlink_to(sys.executable)

    planned = make(path, "-n", "install")

    assert planned.returncode == 0, planned.stderr
    assert f"--python {name}" in planned.stdout


def test_without_a_python_make_says_in_one_line_what_to_install(path: Path) -> None:
    for command in ("run", "install", "test"):
        stopped = make(path, command)

        [message, failed] = stopped.stderr.splitlines()
        assert stopped.returncode != 0
        assert message.startswith("make: Inkwell needs CPython 3.11 or newer, and none of python3 "), message
        assert "install one (apt install python3.12" in message
        assert message.endswith("make run PYTHON=/path/to/python3.13")
        assert failed.startswith("make: ***")
    assert not (path.parent / "venv").exists()


def test_a_python_named_that_is_not_one_is_refused_in_one_line(path: Path) -> None:
    stopped = make(path, "run", "PYTHON=/nowhere/python3.10")

    [message, _] = stopped.stderr.splitlines()
    assert message.startswith(
        "make: Inkwell needs CPython 3.11 or newer, and PYTHON=/nowhere/python3.10 is not one"
    )
    assert not (path.parent / "venv").exists()


def test_a_python_named_is_checked_at_every_run(path: Path) -> None:
    venv = path.parent / "venv"
    venv.mkdir()
    (venv / ".installed").touch()  # installed, and newer than the lock file
    (path / "python3").symlink_to(sys.executable)

    unnamed = make(path, "-n", "install")
    named = make(path, "-n", "install", f"PYTHON={sys.executable}")

    assert "sync" not in unnamed.stdout
    # uv builds the virtualenv anew when it was built with another Python, and does nothing otherwise.
    assert f"sync --frozen --compile-bytecode --python {sys.executable}" in named.stdout


@pytest.mark.slow
def test_make_run_installs_what_serving_needs_and_not_the_development_tools(path: Path) -> None:
    (path / "python3").symlink_to(sys.executable)
    (path / "touch").symlink_to(str(shutil.which("touch")))  # make marks the install done with it
    venv = path.parent / "venv"

    installed = make(path, f"{venv}/.serving")  # what `make run` installs before it serves

    assert installed.returncode == 0, installed.stderr
    assert (venv / "bin" / "inkwell").exists()
    assert not (venv / "bin" / "pytest").exists()
    assert not (venv / "bin" / "mkdocs").exists()
