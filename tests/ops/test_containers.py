"""What the image and compose.yaml run, run here without Docker: the image's own command as its user
without privileges on an empty data folder, the API service's command with its health check, and the
worker service's health check against a real worker.

The port 8000 of the image and of compose becomes a free port, and the image's /app, /app/.venv and /data
become this checkout, its virtualenv and a new folder; everything else is taken from the files as they are.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.commands import run_here
from tests.containers import (
    ROOT,
    api_script,
    health_check,
    image_command,
    image_environment,
    image_health_check,
    inkwell_commands,
    instructions,
)
from tests.databases import Backend
from tests.processes import INKWELL, free_port

pytestmark = pytest.mark.slow

VENV_BIN = Path(INKWELL).parent
PORT = "8000"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
SETPRIV = shutil.which("setpriv")


def here(text: str, port: str) -> str:
    """A command of the container's as this test runs it: on a free port, on the loopback alone."""
    text = text.replace(f"--port {PORT}", f"--port {port}").replace(f":{PORT}/", f":{port}/")
    return text.replace("--host 0.0.0.0", "--host 127.0.0.1")


def as_user(uid: int | None, command: list[str]) -> list[str]:
    """COMMAND run as the user and group `uid` (the image's are one number), or as the test's own user.

    Allowed to read and search every folder (CAP_DAC_READ_SEARCH), as it may read everything in the image:
    here the virtualenv's interpreter may be under root's home (pyenv's). It writes where its user may.
    """
    if uid is None:
        return command
    caps = ("--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search")
    return [str(SETPRIV), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *caps, *command]


def passes(check: list[str], env: dict[str, str], *, user: int | None = None) -> bool:
    """Whether a health check's command exits 0, as Docker runs it (as the container's user)."""
    result = subprocess.run(as_user(user, check), env=env, capture_output=True, timeout=30, check=False)
    return result.returncode == 0


def wait_until(
    check: list[str], env: dict[str, str], process: subprocess.Popen[str], *, user: int | None = None
) -> None:
    deadline = time.monotonic() + 90  # a loaded machine starting several server processes
    while not passes(check, env, user=user):
        if process.poll() is not None:
            pytest.fail(f"it exited with status {process.returncode}: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail("its health check did not pass within 90 s")
        time.sleep(0.5)


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


@contextmanager
def running(
    args: list[str], env: dict[str, str], cwd: Path, *, user: int | None = None
) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        as_user(user, args), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


@contextmanager
def data_folder(uid: int, gid: int) -> Iterator[Path]:
    """An empty folder that belongs to the image's user, as a new volume on /data does: outside pytest's
    own temporary folders, which only root may enter."""
    folder = Path(tempfile.mkdtemp(prefix="inkwell-data-"))
    try:
        os.chown(folder, uid, gid)
        yield folder
    finally:
        shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="running a command as the image's user takes root")
@pytest.mark.skipif(SETPRIV is None, reason="needs setpriv (util-linux)")
def test_the_images_command_migrates_and_serves_as_its_user_on_an_empty_data_volume() -> None:
    uid, gid = (int(part) for part in instructions("USER")[0].split(":"))
    assert uid == gid
    [volume] = instructions("VOLUME")
    command, check = image_command(), image_health_check()
    assert f"--port {PORT}" in command[-1]
    assert instructions("EXPOSE") == [PORT]
    assert f"http://127.0.0.1:{PORT}/healthz" in check[-1]
    port = str(free_port())

    with data_folder(uid, gid) as data:
        env = {
            name: value.replace("$PATH", SYSTEM_PATH).replace("/app/.venv/bin", str(VENV_BIN))
            for name, value in image_environment().items()
        }
        env["DATABASE_URL"] = env["DATABASE_URL"].replace(volume, str(data))
        env["HOME"] = str(ROOT)  # the user's home: /app
        command, check = [here(arg, port) for arg in command], [here(arg, port) for arg in check]
        with running(command, env, ROOT, user=uid) as server:
            wait_until(check, env, server, user=uid)
            status, log = stop(server)
        files = {file.name: file.stat() for file in data.iterdir()}

    assert status == 0, log
    assert "Traceback" not in log, log
    assert {"inkwell.db", "inkwell-secret.key"} <= set(files)
    assert {files[name].st_uid for name in ("inkwell.db", "inkwell-secret.key")} == {uid}
    assert files["inkwell-secret.key"].st_mode & 0o077 == 0  # its owner's alone


def test_the_api_services_command_serves_and_passes_its_health_check(
    process_backend: Backend, server_env: dict[str, str]
) -> None:
    assert run_here(server_env, "db", "upgrade").returncode == 0
    [serve] = inkwell_commands(api_script())
    assert serve[serve.index("--port") + 1] == PORT
    port = str(free_port())
    script = here(api_script(), port)
    check = [here(arg, port) for arg in health_check("inkwell")]
    env = {**server_env, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}

    with running(["sh", "-ec", script], env, ROOT) as server:
        wait_until(check, env, server)
        arguments = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode().split("\0")
        status, log = stop(server)

    gateway = arguments[arguments.index("--forwarded-allow-ips") + 1]
    assert gateway.count(".") == 3, arguments  # the default route's gateway, an IPv4 address
    assert status == 0, log


def test_the_worker_services_health_check_passes_while_a_worker_runs(
    process_backend: Backend, server_env: dict[str, str], redis_server: str, redis_prefix: str, tmp_path: Path
) -> None:
    env = {**server_env, "INKWELL_REDIS_URL": redis_server, "INKWELL_REDIS_PREFIX": redis_prefix}
    env["PATH"] = f"{VENV_BIN}:{os.environ['PATH']}"
    assert run_here(env, "db", "upgrade").returncode == 0
    check = health_check("worker")

    before = passes(check, env)
    with running([INKWELL, "worker"], env, tmp_path) as worker:
        wait_until(check, env, worker)
        status, log = stop(worker)
    after = passes(check, env)

    assert (before, after) == (False, False)
    assert status == 0, log
