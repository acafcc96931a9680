"""Mail sent by a job: the job composes the message (see inkwell.auth.emails), this sends it."""

from inkwell.jobs.context import JobContext, PermanentJobError
from inkwell.mail.sender import PermanentMailError, compose


async def deliver(ctx: JobContext, *, to: str, subject: str, body: str) -> None:
    """Send one message now; a refusal for good ends the job instead of retrying it."""
    message = compose(ctx.settings, to=to, subject=subject, body=body)
    try:
        await ctx.mailer.send(message)
    except PermanentMailError as exc:
        raise PermanentJobError(str(exc)) from exc
