"""`inkwell serve` names what stopped it on the way to the database: a server it cannot reach, credentials
it refused, a database that does not exist. Each is one line that never shows the password."""

import os
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url

from tests.accounts import SIGNED_IN_ENV
from tests.databases import Backend
from tests.processes import free_port, inkwell

pytestmark = pytest.mark.slow


@pytest.fixture
def postgresql(backend: Backend) -> str:
    """The suite's PostgreSQL, with a password in its URL that the server must never see printed."""
    assert backend.server_url is not None
    return make_url(backend.server_url).set(password="hunter2").render_as_string(hide_password=False)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers, like a host behind a dropping firewall."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def start_up_line(database_url: str, **settings: str) -> str:
    env = {**os.environ, **SIGNED_IN_ENV, "DATABASE_URL": database_url, **settings}
    result = inkwell(env, "serve", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr
    return result.stderr


@pytest.mark.backends("postgresql")  # these refusals are PostgreSQL's
def test_a_refused_port_cannot_be_reached(postgresql: str) -> None:
    url = make_url(postgresql).set(port=free_port())

    line = start_up_line(url.render_as_string(hide_password=False))

    assert line.startswith(f"inkwell serve: cannot reach the database at {url} (ConnectionRefusedError")


@pytest.mark.backends("postgresql")  # these refusals are PostgreSQL's
def test_a_server_that_never_answers_cannot_be_reached(postgresql: str, silent_server: int) -> None:
    url = make_url(postgresql).set(port=silent_server)

    line = start_up_line(url.render_as_string(hide_password=False), INKWELL_DB_CONNECT_TIMEOUT="1")

    assert line.startswith(f"inkwell serve: cannot reach the database at {url} (TimeoutError")


@pytest.mark.backends("postgresql")  # these refusals are PostgreSQL's
def test_a_missing_database_is_named(postgresql: str) -> None:
    url = make_url(postgresql).set(database="inkwell_no_such_database")

    line = start_up_line(url.render_as_string(hide_password=False))

    assert line == (
        f"inkwell serve: the database at {url} does not exist "
        '(InvalidCatalogNameError: database "inkwell_no_such_database" does not exist); '
        "create it, or check the database name in DATABASE_URL\n"
    )


@pytest.mark.backends("postgresql")  # these refusals are PostgreSQL's
def test_an_unknown_user_is_refused_credentials(postgresql: str) -> None:
    # Local connections are trusted (pg_hba.conf): a role that does not exist is what the server refuses.
    # A wrong password is refused by PgBouncer's own check: see tests/db/test_pooler.py.
    url = make_url(postgresql).set(username="inkwell_no_such_role")

    line = start_up_line(url.render_as_string(hide_password=False))

    assert line == (
        f"inkwell serve: the database at {url} refused the user or password "
        '(InvalidAuthorizationSpecificationError: role "inkwell_no_such_role" does not exist); '
        "check the credentials in DATABASE_URL\n"
    )


def test_an_unknown_pooler_mode_is_refused() -> None:
    line = start_up_line("sqlite:///inkwell.db", INKWELL_DB_POOLER="session")

    assert line.startswith("inkwell serve: INKWELL_DB_POOLER: Input should be 'none' or 'transaction'")
