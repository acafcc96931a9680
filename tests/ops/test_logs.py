"""One structured line per request, with a request id; secrets and addresses never reach the log."""

import io
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI

from inkwell.auth.emails import reset_message
from inkwell.auth.tokens import new_account_token
from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.logs import configure_logging, redact_text
from inkwell.main import create_app
from inkwell.orm import utcnow
from inkwell.users.models import User
from tests.accounts import PASSWORD, Account, new_account


def bytes_headers(account: Account) -> dict[bytes, bytes]:
    return {name.encode(): value.encode() for name, value in account.headers.items()}


class LogStream(io.StringIO):
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.getvalue().splitlines()]

    def requests(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["event"] == "request"]


@pytest.fixture
def log(app: FastAPI, settings: Settings) -> LogStream:
    """The app's log, as JSON lines (set before the app's first request builds its middleware)."""
    stream = LogStream()
    configure_logging(settings.model_copy(update={"log_format": "json", "log_level": "debug"}), stream)
    return stream


async def test_one_line_per_request_with_method_route_status_duration_and_id(
    log: LogStream, client: httpx.AsyncClient, account: Account
) -> None:
    response = await client.get("/users/12345", headers=account.headers)

    # The account's sign-up and sign-in came first, a line each.
    assert [line["route"] for line in log.requests()] == ["/users", "/auth/token", "/users/{user_id}"]
    line = log.requests()[-1]
    assert line["method"] == "GET"
    assert line["route"] == "/users/{user_id}"
    assert line["status"] == 404
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert line["request_id"] == response.headers["x-request-id"]
    assert len(line["request_id"]) == 32


async def test_a_valid_client_request_id_is_kept_and_returned(
    log: LogStream, client: httpx.AsyncClient, account: Account
) -> None:
    response = await client.get("/users", headers={"X-Request-ID": "edge-7f3a.2026:01_b", **account.headers})

    assert response.headers["x-request-id"] == "edge-7f3a.2026:01_b"
    assert log.requests()[-1]["request_id"] == "edge-7f3a.2026:01_b"


@pytest.mark.parametrize(
    "sent",
    ["x" * 129, "has space", 'quote"d', "<script>", "ünïcode", "ada@example.com", ""],
)
async def test_an_unsafe_client_request_id_is_replaced(
    log: LogStream, client: httpx.AsyncClient, account: Account, sent: str
) -> None:
    response = await client.get("/users", headers={b"X-Request-ID": sent.encode(), **bytes_headers(account)})

    returned = response.headers["x-request-id"]
    assert returned != sent
    assert len(returned) == 32
    assert log.requests()[-1]["request_id"] == returned


@pytest.fixture
async def unreachable(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    down = settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:9/none"})
    engine = create_engine(down)
    app = create_app(down, database=Database(engine))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inkwell.test") as c:
        yield c
    await engine.dispose()


async def test_lines_written_during_a_request_carry_its_id(
    settings: Settings, unreachable: httpx.AsyncClient
) -> None:
    stream = LogStream()
    configure_logging(settings.model_copy(update={"log_format": "json"}), stream)

    # A sign-up needs no token, and reaches the database.
    sign_up = {"email": "a@example.com", "name": "A", "password": PASSWORD}
    response = await unreachable.post("/users", json=sign_up, headers={"X-Request-ID": "trace-1"})

    assert response.status_code == 503
    warning = next(line for line in stream.lines() if line["level"] == "warning")
    assert warning["request_id"] == "trace-1"
    assert warning["logger"] == "inkwell.error_handlers"


async def test_console_format_is_readable_text(
    app: FastAPI, settings: Settings, client: httpx.AsyncClient
) -> None:
    stream = io.StringIO()
    configure_logging(settings.model_copy(update={"log_format": "console"}), stream)
    # Signed up and in once the log is set up: the app's first request builds its logging middleware.
    account = await new_account(client)

    await client.get("/users", headers={"X-Request-ID": "readable-1", **account.headers})

    text = stream.getvalue()
    assert "request" in text
    assert "route=/users" in text
    assert "request_id=readable-1" in text
    assert not text.lstrip().startswith("{")


@pytest.mark.parametrize(("stream_is_tty", "expected_json"), [(True, False), (False, True)])
def test_auto_format_follows_the_terminal(
    settings: Settings, stream_is_tty: bool, expected_json: bool
) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return stream_is_tty

    stream = Stream()
    configure_logging(settings.model_copy(update={"log_format": "auto"}), stream)

    logging.getLogger("inkwell").warning("hello")

    assert stream.getvalue().startswith("{") is expected_json


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("signed up ada.lovelace@example.com", "ada.lovelace@example.com"),
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl here", "eyJhbGciOiJIUzI1NiJ9"),
        ('{"password": "hunter2-secret"}', "hunter2-secret"),
        ("grant_type=password&username=a&password=hunter2", "hunter2"),
        ("postgresql://app:s3cr3t@db:5432/inkwell", "s3cr3t"),
        ("client_secret=abc123xyz", "abc123xyz"),
        ("reset-password:\n\nToken: r3s3t-t0k3n\n", "r3s3t-t0k3n"),
        ("signed in with basic\ntoken: abc999", "abc999"),
        ("refresh_token=rt-123456&x=1", "rt-123456"),
        ('{"new_password": "n3w-pass"}', "n3w-pass"),
        ("X-Api-Key: k3y-value", "k3y-value"),
        ("('a@example.com', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA')", "aGFzaA"),
    ],
)
def test_redaction_removes_secrets_and_addresses(text: str, leaked: str) -> None:
    assert leaked not in redact_text(text)


def test_redaction_leaves_no_token_in_a_reset_mail() -> None:
    token = new_account_token()
    user = User(name="Ada", email="ada@example.com")
    body = reset_message(Settings(_env_file=None), user, token, expires_at=utcnow())

    redacted = redact_text(body)

    assert token in body
    assert token not in redacted
    assert "Token: [redacted]" in redacted


def test_a_secret_name_ending_a_line_never_takes_the_next_line_for_its_value() -> None:
    assert redact_text("reset-password:\n\nToken: abc123") == "reset-password:\n\nToken: [redacted]"
    assert redact_text("password =\nnot-a-secret") == "password =\nnot-a-secret"


def test_redaction_keeps_the_email_domain() -> None:
    assert redact_text("from ada@example.com") == "from ***@example.com"


@pytest.mark.parametrize(
    ("address", "domain"),
    [
        ("zoë.müller@bücher.de", "bücher.de"),
        ("josé@example.com", "example.com"),
        ("john.smith!ops@example.com", "example.com"),
        # Every character RFC 5321 allows in an unquoted local part besides letters, digits and dots.
        ("a!#$%&'*+-/=?^_`{|}~z@example.com", "example.com"),
        ("!ops@example.com", "example.com"),
        ("ops~@example.com", "example.com"),
        ("o'brien@example.ie", "example.ie"),
        ("a/b=c@example.com", "example.com"),
        ("用户@例子.广告", "例子.广告"),
        ("δοκιμή@παράδειγμα.δοκιμή", "παράδειγμα.δοκιμή"),
        ("ada@xn--bcher-kva.de", "xn--bcher-kva.de"),
        ('"john doe"@example.com', "example.com"),
        ('"ops@home, (really)"@example.com', "example.com"),
        (r'"a\"b"@example.com', "example.com"),
    ],
)
def test_redaction_removes_every_local_part_whatever_its_characters(address: str, domain: str) -> None:
    assert redact_text(f"signed up {address} today") == f"signed up ***@{domain} today"


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("Ada <josé@example.com>", "Ada <***@example.com>"),
        ("User(email='zoë@bücher.de', name='Zoë')", "User(email='***@bücher.de', name='Zoë')"),
        (
            "(1062, \"Duplicate entry 'josé@example.com' for key 'uq_users_email'\")",
            "(1062, \"Duplicate entry '***@example.com' for key 'uq_users_email'\")",
        ),
        ("“zoë@bücher.de” and josé@example.com.", "“***@bücher.de” and ***@example.com."),
        ("https://josé@example.com/path", "https://***@example.com/path"),
        # An address written right after another one is not taken for part of its domain.
        ("a@example.com/b!c@example.org", "***@example.com/***@example.org"),
        ("a@example.com.b~c@example.org", "***@example.com***@example.org"),
        ("from ADA@Example.COM", "from ***@Example.COM"),
    ],
)
def test_redaction_keeps_the_text_around_an_address(text: str, redacted: str) -> None:
    assert redact_text(text) == redacted


@pytest.mark.parametrize(
    "text",
    [
        "user@localhost",
        "@mention and @example.com",
        "pip install inkwell@0.1.0",
        "node@20.1 on 127.0.0.1:8000",
        "a @ b, 50% = half; ratio 1:2",
        "Zoë's post: {'title': 'Hi!', 'tags': ['a', 'b']}",
        "it's 10:00 — see docs/api.md#errors (and ~/inkwell)",
        '"quoted" @ example.com',
    ],
)
def test_redaction_leaves_text_without_an_address_as_it_is(text: str) -> None:
    assert redact_text(text) == text


def test_redaction_takes_linear_time_on_long_runs_of_address_characters() -> None:
    texts = [
        "a" * 100_000,
        "a@" * 50_000,
        "a." * 50_000 + "@",
        '"a' * 50_000,
        "x='" * 30_000 + "@example.com",
    ]

    started = time.perf_counter()
    for text in texts:
        redact_text(text)

    assert time.perf_counter() - started < 2


def test_log_lines_and_tracebacks_carry_no_local_part() -> None:
    stream = LogStream()
    configure_logging(Settings(_env_file=None, log_format="json"), stream)

    logging.getLogger("inkwell").warning("mail to %s bounced", "zoë.müller@bücher.de")
    structlog.get_logger().info("signed up", email="josé@example.com", who=("john.smith!ops@example.com",))
    try:
        raise LookupError('no account for "john doe"@example.com')
    except LookupError:
        logging.getLogger("inkwell").exception("sign-in failed")

    warning, signed_up, failed = stream.lines()
    assert warning["event"] == "mail to ***@bücher.de bounced"
    assert (signed_up["email"], signed_up["who"]) == ("***@example.com", "('***@example.com',)")
    assert "LookupError: no account for ***@example.com" in failed["exception"]
    for local_part in ("zoë.müller", "josé", "john.smith", "ops@", "john doe"):
        assert local_part not in stream.getvalue()
