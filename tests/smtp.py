"""A real SMTP server (aiosmtpd) on the test's event loop, keeping every message it acknowledged."""

import asyncio
import email
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from email.message import Message
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

ACCEPTED = "250 2.0.0 OK"

# What the server does with one message: answer its reply (only "250 ..." acknowledges it).
Reply = Callable[[], Awaitable[str]]


async def accept() -> str:
    return ACCEPTED


class MailSink:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self.attempts = 0
        self.replies: list[Reply] = []  # the replies to the next messages, in order; then `accept`
        self.arrived = asyncio.Condition()
        self.port = 0

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, _server: SMTP, session: Session, envelope: Envelope) -> str:
        self.attempts += 1
        async with self.arrived:
            self.arrived.notify_all()
        reply = await (self.replies.pop(0) if self.replies else accept)()
        if reply.startswith("250"):
            assert isinstance(envelope.content, bytes)
            message = email.message_from_bytes(envelope.content)
            message["X-Rcpt-To"] = ",".join(envelope.rcpt_tos)
            self.messages.append(message)
        async with self.arrived:
            self.arrived.notify_all()
        return reply

    async def handle_RCPT(
        self, _server: SMTP, _session: Session, envelope: Envelope, address: str, _options: list[str]
    ) -> str:
        if address.endswith("@nowhere.test"):
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def authenticate(self, *args: Any) -> AuthResult:
        data = args[-1]
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login, data.password))
        return AuthResult(success=True, auth_data=data)

    async def wait_for(self, count: int, *, within: float = 30) -> list[Message]:
        """Wait until `count` messages were acknowledged; then return them all."""
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: len(self.messages) >= count)
        return self.messages

    async def wait_for_attempts(self, count: int, *, within: float = 30) -> None:
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: self.attempts >= count)


@asynccontextmanager
async def mail_sink() -> AsyncIterator[MailSink]:
    sink = MailSink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, authenticator=sink.authenticate, auth_require_tls=False), "127.0.0.1", 0
    )
    sink.port = server.sockets[0].getsockname()[1]
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()
