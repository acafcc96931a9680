"""`inkwell mail catch`: a mail server for development that prints every message it is sent, whole.

Inkwell sends to it over SMTP as it would to any mail server (`INKWELL_SMTP_URL=smtp://127.0.0.1:1025`), so
what a newcomer reads is what a user would get: the mails of email verification, password reset and a new
email, tokens included. Nothing is delivered anywhere. The server is aiosmtpd's, imported when the command
runs: it comes with the development dependencies.
"""

import asyncio
import email
import email.policy
from email.message import EmailMessage
from itertools import count
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from aiosmtpd.smtp import SMTP, Envelope, Session

DEFAULT_PORT = 1025
ACCEPTED = "250 2.0.0 Caught"
SHOWN_HEADERS = ("Date", "From", "To", "Subject")


class MissingServer(Exception):
    """aiosmtpd, which serves SMTP, is not installed."""


class Printer:
    """aiosmtpd's handler: each message is printed, headers then body, as it arrives."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.numbers = count(1)

    async def handle_DATA(self, _server: "SMTP", _session: "Session", envelope: "Envelope") -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        message = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.out.write(render(message, number=next(self.numbers), recipients=envelope.rcpt_tos))
        self.out.flush()
        return ACCEPTED


def render(message: EmailMessage, *, number: int, recipients: list[str]) -> str:
    """The message as a person reads it: its main headers and its text, decoded."""
    lines = [f"----- mail {number} to {', '.join(recipients)} -----"]
    lines += [f"{name}: {message[name]}" for name in SHOWN_HEADERS if message[name] is not None]
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if isinstance(body, EmailMessage) else "(no text part)"
    return "\n".join([*lines, "", str(text).rstrip("\n"), "", ""])


async def catch(host: str, port: int, out: TextIO, *, started: asyncio.Event | None = None) -> None:
    """Serve SMTP on host:port until cancelled, printing each message to `out`."""
    try:
        from aiosmtpd.smtp import SMTP
    except ImportError:
        raise MissingServer(
            "aiosmtpd is not installed; it comes with the development dependencies (`make install`)"
        ) from None
    printer = Printer(out)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(printer, hostname="inkwell.localhost"), host, port)
    if started is not None:
        started.set()
    async with server:
        await server.serve_forever()
