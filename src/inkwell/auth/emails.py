"""The mail of the account flows: email verification and password reset.

A request only writes a job to the outbox, in its own transaction. The job, run by the worker (or the
API's in-process runner), issues the token and sends the mail; so the token exists in clear only in the
mail, and a request for an unknown email does exactly what one for a known email does.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.auth import service
from inkwell.auth.errors import TooManyMailRequests
from inkwell.auth.models import TokenPurpose
from inkwell.auth.throttle import Throttle, mail_sender_limit, mailbox_limit
from inkwell.config import Settings
from inkwell.db import transaction
from inkwell.jobs import service as jobs
from inkwell.jobs.context import JobContext
from inkwell.mail.jobs import deliver
from inkwell.orm import utcnow
from inkwell.users import service as users
from inkwell.users.models import User

SEND_EMAIL_VERIFICATION = "send_email_verification"
SEND_PASSWORD_RESET = "send_password_reset"  # noqa: S105 (a job name, not a password)


async def count_mail_request(
    throttle: Throttle, session: AsyncSession, settings: Settings, *, email: str, address: str
) -> int | None:
    """Count a request for a mail to `email` from client `address`, in the request's transaction.

    Past the client address's limit, 429 (TooManyMailRequests). Past the mailbox's, the seconds until
    it may get another mail (the caller decides what to answer), else None. Counted the same whether
    or not an account has the address, so the answer tells nothing either way.
    """
    if (wait := await throttle.hit([mail_sender_limit(settings, address)], session=session)) is not None:
        raise TooManyMailRequests(wait)
    return await throttle.hit([mailbox_limit(settings, email)], session=session)


async def request_verification(session: AsyncSession, user: User) -> None:
    """Mail the user a verification token at their current email, once the transaction commits."""
    await jobs.enqueue(session, SEND_EMAIL_VERIFICATION, {"user_id": user.id, "email": user.email})


async def request_password_reset(session: AsyncSession, email: str) -> None:
    """Mail a reset token to the account with `email`, if there is one, once the transaction commits."""
    await jobs.enqueue(session, SEND_PASSWORD_RESET, {"email": email})


async def send_email_verification(ctx: JobContext, payload: dict[str, Any]) -> None:
    now = utcnow()
    ttl = ctx.settings.verify_token_ttl
    async with transaction(ctx.sessionmaker, writes=True) as session:
        user = await users.get_user(session, payload["user_id"])
        if user is None or user.email != payload["email"]:
            return  # the account is gone, or has another address since: its own request will follow
        token = await service.issue_account_token(
            session, user, purpose=TokenPurpose.VERIFY_EMAIL, now=now, ttl=ttl
        )
    body = verification_message(ctx.settings, user, token, expires_at=now + timedelta(seconds=ttl))
    await deliver(ctx, to=user.email, subject="Verify your email address for Inkwell", body=body)


async def send_password_reset(ctx: JobContext, payload: dict[str, Any]) -> None:
    now = utcnow()
    ttl = ctx.settings.reset_token_ttl
    async with transaction(ctx.sessionmaker, writes=True) as session:
        user = await service.find_account(session, payload["email"])
        if user is None:
            return  # no such account: nothing to send, and the client was told nothing different
        token = await service.issue_account_token(
            session, user, purpose=TokenPurpose.RESET_PASSWORD, now=now, ttl=ttl
        )
    body = reset_message(ctx.settings, user, token, expires_at=now + timedelta(seconds=ttl))
    await deliver(ctx, to=user.email, subject="Reset your Inkwell password", body=body)


def verification_message(settings: Settings, user: User, token: str, *, expires_at: datetime) -> str:
    url = f"{public_url(settings)}/auth/verify"
    return (
        f"Hello {user.name},\n\n"
        f"To confirm that {user.email} is your address on Inkwell, send this token to {url}:\n\n"
        f"Token: {token}\n\n"
        f"For example:\n\n"
        f"  curl -X POST {url} -H 'content-type: application/json' -d '{{\"token\": \"{token}\"}}'\n\n"
        f"{_expiry(expires_at)} If you did not ask for it, ignore this message.\n"
    )


def reset_message(settings: Settings, user: User, token: str, *, expires_at: datetime) -> str:
    url = f"{public_url(settings)}/auth/reset-password"
    return (
        f"Hello {user.name},\n\n"
        f"Someone (you, we hope) asked to reset the password of {user.email} on Inkwell. To choose a new\n"
        f"one, send this token with it to {url}:\n\n"
        f"Token: {token}\n\n"
        f"For example:\n\n"
        f"  curl -X POST {url} -H 'content-type: application/json' \\\n"
        f'       -d \'{{"token": "{token}", "new_password": "..."}}\'\n\n'
        f"Every session of the account then ends: sign in again with the new password.\n"
        f"{_expiry(expires_at)} If you did not ask for it, ignore this message: your password stays as "
        f"it is.\n"
    )


def public_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def _expiry(expires_at: datetime) -> str:
    return f"The token works once, until {expires_at:%Y-%m-%d %H:%M} UTC."
