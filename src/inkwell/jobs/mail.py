"""The mail job: the message is composed when the job runs and sent by the configured mailer."""

from typing import Any

from inkwell.db import Transaction
from inkwell.jobs import service as jobs
from inkwell.jobs.context import JobContext, PermanentJobError
from inkwell.mail.sender import PermanentMailError, compose

SEND_EMAIL = "send_email"


async def enqueue_email(tx: Transaction, *, to: str, subject: str, body: str) -> int:
    """Send a message once the transaction commits (and only if it does); the job's id."""
    return await jobs.enqueue(tx, SEND_EMAIL, {"to": to, "subject": subject, "body": body})


async def send_email(ctx: JobContext, payload: dict[str, Any]) -> None:
    await deliver(ctx, to=payload["to"], subject=payload["subject"], body=payload["body"])


async def deliver(ctx: JobContext, *, to: str, subject: str, body: str) -> None:
    """Send one message now; a refusal for good ends the job instead of retrying it."""
    message = compose(ctx.settings, to=to, subject=subject, body=body)
    try:
        await ctx.mailer.send(message)
    except PermanentMailError as exc:
        raise PermanentJobError(str(exc)) from exc
