"""Sending mail: over SMTP (aiosmtplib) when `INKWELL_SMTP_URL` is set, to the log otherwise."""

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from inkwell.config import Settings

logger = logging.getLogger(__name__)

SMTP_SCHEMES = {"smtp": 25, "smtps": 465}


class PermanentMailError(Exception):
    """The server refused the message for good (a 5xx reply): trying again cannot help."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpServer:
    """`smtp://[user:password@]host[:port]` (STARTTLS when offered) or `smtps://...` (TLS from the start)."""
    parts = urlsplit(url)
    if parts.scheme not in SMTP_SCHEMES or not parts.hostname:
        raise ValueError("the SMTP URL must look like smtp://user:password@host:port or smtps://...")
    return SmtpServer(
        host=parts.hostname,
        port=parts.port or SMTP_SCHEMES[parts.scheme],
        implicit_tls=parts.scheme == "smtps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class SmtpMailer:
    """One connection per message: mail is rare next to requests, and a fresh connection never goes stale."""

    def __init__(self, server: SmtpServer, *, timeout: float) -> None:
        self.server = server
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        try:
            await aiosmtplib.send(
                message,
                hostname=self.server.host,
                port=self.server.port,
                username=self.server.username,
                password=self.server.password,
                use_tls=self.server.implicit_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise PermanentMailError(f"{exc.code} {exc.message}") from exc
            raise
        except aiosmtplib.SMTPRecipientsRefused as exc:
            if all(refusal.code >= 500 for refusal in exc.recipients):
                raise PermanentMailError(str(exc)) from exc
            raise


class LogMailer:
    """Development without a mail server: each message goes to the log, whole, for a person to read."""

    async def send(self, message: EmailMessage) -> None:
        logger.warning(
            "INKWELL_SMTP_URL is unset, so this mail was written to the log instead of sent:\n%s",
            message.as_string(),
        )


def create_mailer(settings: Settings) -> Mailer:
    if settings.smtp_url is None:
        return LogMailer()
    return SmtpMailer(parse_smtp_url(settings.smtp_url.get_secret_value()), timeout=settings.smtp_timeout)


def compose(settings: Settings, *, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="inkwell.localhost")
    message.set_content(body)
    return message
