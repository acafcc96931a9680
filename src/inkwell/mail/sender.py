"""Sending mail: over SMTP (aiosmtplib) when `INKWELL_SMTP_URL` is set; otherwise only noted in the log."""

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
import structlog
from opentelemetry.trace import Tracer

from inkwell.config import Settings
from inkwell.logs import Unredacted
from inkwell.tracing import NO_TRACER, smtp_span

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

    def __init__(self, server: SmtpServer, *, timeout: float, tracer: Tracer = NO_TRACER) -> None:
        self.server = server
        self.timeout = timeout
        self.tracer = tracer

    async def send(self, message: EmailMessage) -> None:
        with smtp_span(self.tracer, host=self.server.host, port=self.server.port):
            await self._send(message)

    async def _send(self, message: EmailMessage) -> None:
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


# What to do is in the line: the mail catcher shows every mail whole, tokens included, on its terminal.
NOT_SENT = (
    "mail not sent: INKWELL_SMTP_URL is unset; to read mail in development, run `inkwell mail catch` and "
    "serve with INKWELL_SMTP_URL=smtp://127.0.0.1:1025"
)


class LogMailer:
    """Development without a mail server: each message is logged instead of sent.

    The log gets the recipient (reduced to its domain, as every address in the log is) and the subject.
    The body carries tokens that act for the account (a password reset), so it is written only when
    `with_body` is asked for, and then as it is, unredacted.
    """

    def __init__(self, *, with_body: bool = False) -> None:
        self.with_body = with_body

    async def send(self, message: EmailMessage) -> None:
        fields: dict[str, str] = {"to": str(message["To"]), "subject": str(message["Subject"])}
        if self.with_body:
            fields["body"] = Unredacted(message.get_content())
        structlog.get_logger().warning(NOT_SENT, logger=__name__, **fields)


def create_mailer(settings: Settings, *, tracer: Tracer = NO_TRACER) -> Mailer:
    if settings.smtp_url is None:
        if settings.mail_log_body:
            logger.warning(
                "INKWELL_MAIL_LOG_BODY is on: every mail is written to the log whole, with the tokens that "
                "verify an address or reset a password; use it for development only"
            )
        return LogMailer(with_body=settings.mail_log_body)
    server = parse_smtp_url(settings.smtp_url.get_secret_value())
    return SmtpMailer(server, timeout=settings.smtp_timeout, tracer=tracer)


def compose(settings: Settings, *, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="inkwell.localhost")
    message.set_content(body)
    return message
