"""The mail job: the message is composed when the job runs and sent by the configured mailer."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.jobs import service as jobs
from inkwell.jobs.context import JobContext, PermanentJobError
from inkwell.jobs.models import OutboxJob
from inkwell.mail.sender import PermanentMailError, compose

SEND_EMAIL = "send_email"


async def enqueue_email(session: AsyncSession, *, to: str, subject: str, body: str) -> OutboxJob:
    """Send a message once the session's transaction commits (and only if it does)."""
    return await jobs.enqueue(session, SEND_EMAIL, {"to": to, "subject": subject, "body": body})


async def send_email(ctx: JobContext, payload: dict[str, Any]) -> None:
    await deliver(ctx, to=payload["to"], subject=payload["subject"], body=payload["body"])


async def deliver(ctx: JobContext, *, to: str, subject: str, body: str) -> None:
    """Send one message now; a refusal for good ends the job instead of retrying it."""
    message = compose(ctx.settings, to=to, subject=subject, body=body)
    try:
        await ctx.mailer.send(message)
    except PermanentMailError as exc:
        raise PermanentJobError(str(exc)) from exc
