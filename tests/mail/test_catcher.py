"""`inkwell mail catch`: the mail of a real server, caught over SMTP and printed whole.

Two real processes, as a newcomer runs them: the catcher, and `inkwell serve` with INKWELL_SMTP_URL naming
it. A password reset is asked for over HTTP; the catcher prints the mail, and the token read from its output
resets the password.
"""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from inkwell.mail.sender import NOT_SENT
from tests.accounts import CHEAP_HASHING_ENV, SIGNED_IN_ENV
from tests.commands import run_here
from tests.processes import INKWELL, free_port, serving

pytestmark = pytest.mark.slow

TOKEN_LINE = re.compile(r"^Token: (\S+)$", re.MULTILINE)


@contextmanager
def catching(port: int, out: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`inkwell mail catch --port PORT`, its output in `out`, until the block ends."""
    with out.open("wb") as sink:
        catcher = subprocess.Popen([INKWELL, "mail", "catch", "--port", str(port)], stdout=sink, stderr=sink)
    try:
        wait_for(out, "Catching mail on", catcher)
        yield catcher
    finally:
        catcher.terminate()
        catcher.wait(30)


def wait_for(out: Path, text: str, process: subprocess.Popen[bytes], *, within: float = 60) -> str:
    deadline = time.monotonic() + within
    while text not in (printed := out.read_text()):
        assert process.poll() is None, printed
        assert time.monotonic() < deadline, printed
        time.sleep(0.1)
    return printed


def test_the_catcher_prints_the_reset_mail_a_real_server_sends(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        **SIGNED_IN_ENV,
        **CHEAP_HASHING_ENV,
        "DATABASE_URL": f"sqlite:///{tmp_path}/inkwell.db",
        "INKWELL_LOG_FORMAT": "json",
        "INKWELL_SMTP_URL": f"smtp://127.0.0.1:{port}",
    }
    assert run_here(env, "db", "upgrade").returncode == 0
    out = tmp_path / "catcher.out"

    with catching(port, out) as catcher, serving(env, tmp_path) as server:
        account = {"email": "ada@example.com", "name": "Ada", "password": "correct horse battery staple"}
        assert httpx.post(f"{server.url}/users", json=account, timeout=30).status_code == 201
        asked = httpx.post(
            f"{server.url}/auth/forgot-password", json={"email": "ada@example.com"}, timeout=30
        )
        assert asked.status_code == 202
        printed = wait_for(out, "Every session of the account then ends", catcher)
        [token] = TOKEN_LINE.findall(printed)
        reset = {"token": token, "new_password": "a new horse battery staple"}
        assert httpx.post(f"{server.url}/auth/reset-password", json=reset, timeout=30).status_code == 204
        signed_in = httpx.post(
            f"{server.url}/auth/token",
            data={"username": "ada@example.com", "password": "a new horse battery staple"},
            timeout=30,
        )

    assert signed_in.status_code == 200, signed_in.text
    assert f"Catching mail on 127.0.0.1:{port}" in printed
    assert "To: ada@example.com" in printed
    assert "Subject: Reset your Inkwell password" in printed


def test_the_line_of_a_mail_not_sent_names_the_catcher() -> None:
    assert "`inkwell mail catch`" in NOT_SENT
    assert "INKWELL_SMTP_URL=smtp://127.0.0.1:1025" in NOT_SENT


def test_the_catcher_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_here({**os.environ, **SIGNED_IN_ENV}, "mail", "catch", "--port", str(port), cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr == (
        f"inkwell mail catch: 127.0.0.1:{port} is in use by another program (an earlier one still "
        f"running?); stop it, or choose another port: --port {port + 1}\n"
    )


def test_without_aiosmtpd_the_catcher_says_where_it_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "aiosmtpd.smtp", None)  # as if it were not installed

    result = run_here(
        {**os.environ, **SIGNED_IN_ENV}, "mail", "catch", "--port", str(free_port()), cwd=tmp_path
    )

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "inkwell mail catch: aiosmtpd is not installed; it comes with the development dependencies "
        "(`make install`)"
    )
