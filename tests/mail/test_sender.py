"""Mail over SMTP (aiosmtplib) against a real server, the settings that configure it, and the log instead."""

import io
import json
from typing import Any

import aiosmtplib
import pytest
from pydantic import SecretStr, ValidationError

from inkwell.config import Settings
from inkwell.logs import configure_logging
from inkwell.mail.sender import (
    LogMailer,
    PermanentMailError,
    SmtpMailer,
    SmtpServer,
    compose,
    create_mailer,
    parse_smtp_url,
)
from tests.smtp import MailSink


def test_smtp_urls_name_the_server_the_tls_and_the_login() -> None:
    assert parse_smtp_url("smtp://mail.example.com") == SmtpServer("mail.example.com", 25, False, None, None)
    assert parse_smtp_url("smtps://me%40example.com:p%3Ass@mail.example.com:2465") == SmtpServer(
        "mail.example.com", 2465, True, "me@example.com", "p:ss"
    )
    assert parse_smtp_url("smtps://mail.example.com").port == 465


@pytest.mark.parametrize(
    ("name", "value"), [("INKWELL_SMTP_URL", "http://mail"), ("INKWELL_REDIS_URL", "x:1")]
)
def test_urls_of_the_wrong_kind_are_refused_without_echoing_them(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match="must start with") as refused:
        Settings(_env_file=None)
    assert value not in str(refused.value).replace(f"input_value='{value}'", "")


def test_an_empty_url_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKWELL_SMTP_URL", "")
    monkeypatch.setenv("INKWELL_REDIS_URL", "")

    settings = Settings(_env_file=None)

    assert (settings.smtp_url, settings.redis_url) == (None, None)


def mailer_for(sink: MailSink, *, login: str = "") -> SmtpMailer:
    return SmtpMailer(parse_smtp_url(f"smtp://{login}127.0.0.1:{sink.port}"), timeout=5)


async def test_a_message_is_delivered_with_the_configured_sender(mail: MailSink) -> None:
    settings = Settings(_env_file=None, smtp_url=SecretStr(mail.url), mail_from="Inkwell <hi@inkwell.test>")
    mailer = create_mailer(settings)

    await mailer.send(compose(settings, to="ada@example.com", subject="Hi", body="Hello, Ada."))

    [message] = mail.messages
    assert message["From"] == "Inkwell <hi@inkwell.test>"
    assert (message["To"], message["Subject"]) == ("ada@example.com", "Hi")
    assert message["Message-ID"]
    assert message["Date"]


async def test_the_login_in_the_url_is_used(mail: MailSink) -> None:
    settings = Settings(_env_file=None)
    message = compose(settings, to="a@example.com", subject="s", body="b")
    await mailer_for(mail, login="mailer:s%40cret@").send(message)

    assert mail.logins == [(b"mailer", b"s@cret")]


async def test_a_refusal_for_good_is_permanent_and_a_temporary_one_is_not(mail: MailSink) -> None:
    settings = Settings(_env_file=None)

    async def refuse_for_good() -> str:
        return "554 5.7.1 Rejected"

    async def refuse_for_now() -> str:
        return "452 4.3.1 Insufficient storage"

    mail.replies.extend([refuse_for_good, refuse_for_now])
    message = compose(settings, to="a@example.com", subject="s", body="b")

    with pytest.raises(PermanentMailError, match="554"):
        await mailer_for(mail).send(message)
    with pytest.raises(aiosmtplib.SMTPResponseException) as temporary:
        await mailer_for(mail).send(message)
    assert temporary.value.code == 452


async def test_an_unknown_recipient_is_permanent(mail: MailSink) -> None:
    settings = Settings(_env_file=None)

    with pytest.raises(PermanentMailError, match="550"):
        await mailer_for(mail).send(compose(settings, to="ghost@nowhere.test", subject="s", body="b"))
    assert mail.messages == []


def log_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("with_body", [False, True])
async def test_without_a_server_the_body_is_logged_only_when_asked_for(with_body: bool) -> None:
    settings = Settings(_env_file=None, log_format="json", mail_log_body=with_body)
    stream = io.StringIO()
    configure_logging(settings, stream)
    body = "Hello Ada,\n\nreset-password:\n\nToken: t0k3n-in-the-body\n"

    mailer = create_mailer(settings)
    await mailer.send(compose(settings, to="ada@example.com", subject="Reset", body=body))

    assert isinstance(mailer, LogMailer)
    *started, mailed = log_lines(stream)
    assert (mailed["to"], mailed["subject"], mailed["level"]) == ("***@example.com", "Reset", "warning")
    assert mailed["logger"] == "inkwell.mail.sender"
    if with_body:
        [warning] = started
        assert "INKWELL_MAIL_LOG_BODY is on" in warning["event"]
        assert mailed["body"] == body  # as it is: the setting asks for the token
    else:
        assert started == []
        assert "body" not in mailed
        assert "t0k3n-in-the-body" not in stream.getvalue()
