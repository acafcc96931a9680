"""The mail of the account flows: email verification, password reset and a change of email.

A request only writes a job to the outbox, in its own transaction. The job, run by the worker (or the
API's in-process runner), issues the token and sends the mail; so the token exists in clear only in the
mail, and a request for an unknown email does exactly what one for a known email does.
"""

from datetime import datetime, timedelta
from typing import Any

from inkwell.auth import service
from inkwell.auth.errors import InvalidAccountToken, TooManyMailRequests
from inkwell.auth.models import TokenPurpose
from inkwell.auth.throttle import Throttle, mail_sender_limit, mailbox_limit
from inkwell.config import Settings
from inkwell.db import Transaction
from inkwell.jobs import service as jobs
from inkwell.jobs.context import JobContext
from inkwell.jobs.mail import deliver, enqueue_email
from inkwell.orm import utcnow
from inkwell.users import service as users
from inkwell.users.models import UserRecord

SEND_EMAIL_VERIFICATION = "send_email_verification"
SEND_PASSWORD_RESET = "send_password_reset"  # noqa: S105 (a job name, not a password)
SEND_EMAIL_CHANGE = "send_email_change"


async def count_mail_request(
    throttle: Throttle, tx: Transaction, settings: Settings, *, email: str, address: str
) -> int | None:
    """Count a request for a mail to `email` from client `address`, in the request's transaction.

    Past the client address's limit, 429 (TooManyMailRequests). Past the mailbox's, the seconds until
    it may get another mail (the caller decides what to answer), else None. Counted the same whether
    or not an account has the address, so the answer tells nothing either way.
    """
    if (wait := await throttle.hit([mail_sender_limit(settings, address)], tx=tx)) is not None:
        raise TooManyMailRequests(wait)
    return await throttle.hit([mailbox_limit(settings, email)], tx=tx)


# The account mail a change of the account withdraws: each was asked for under its old security stamp.
ACCOUNT_MAIL = (SEND_EMAIL_VERIFICATION, SEND_PASSWORD_RESET, SEND_EMAIL_CHANGE)


async def request_verification(tx: Transaction, user: UserRecord) -> None:
    """Mail the user a verification token at their current email, once the transaction commits."""
    payload = {"user_id": user.id, "email": user.email, "stamp": user.security_stamp}
    await jobs.enqueue(tx, SEND_EMAIL_VERIFICATION, payload, user_id=user.id)


async def request_password_reset(
    tx: Transaction, throttle: Throttle, settings: Settings, email: str, *, address: str
) -> None:
    """Mail a reset token to the account with `email`, if there is one, once the transaction commits;
    nothing past the inbox's share of mails (TooManyMailRequests past the client address's).

    Counted against the inbox as an account has it: a database may take other spellings for it (MariaDB
    ignores accents), and each spelling must not get a share of its own.
    """
    account = await users.find_user(tx, email)
    inbox = email if account is None else account.email
    if await count_mail_request(throttle, tx, settings, email=inbox, address=address) is not None:
        return
    if account is None:
        # The same write as for an account, so that the answer (and its time) tells nothing either way.
        await jobs.enqueue(tx, SEND_PASSWORD_RESET, {"email": email})
        return
    payload = {"email": email, "user_id": account.id, "stamp": account.security_stamp}
    await jobs.enqueue(tx, SEND_PASSWORD_RESET, payload, user_id=account.id)


async def request_email_change(
    tx: Transaction,
    throttle: Throttle,
    settings: Settings,
    user: UserRecord,
    email: str,
    *,
    address: str,
) -> bool:
    """Mail `email` a token that makes it the user's address once redeemed; whether a mail is asked for
    (not when `email` is the user's already). Until then the user keeps the address they have.

    Counted first, against the address mailed to and the client's (TooManyMailRequests past either), and
    asked for whether or not another account has `email`: the job mails nothing to a taken address, so
    the answer tells no one which addresses are registered.
    """
    if email == user.email:
        return False
    wait = await count_mail_request(throttle, tx, settings, email=email, address=address)
    if wait is not None:
        raise TooManyMailRequests(wait)
    payload = {"user_id": user.id, "email": email, "stamp": user.security_stamp}
    await jobs.enqueue(tx, SEND_EMAIL_CHANGE, payload, user_id=user.id)
    return True


async def withdraw_account_mail(tx: Transaction, user_id: int) -> None:
    """The account changed under the mail asked for it (a new password, a reset, a new email): none of it
    is sent (each job also checks the account's stamp when it runs, should one be running now)."""
    await jobs.withdraw(tx, user_id=user_id, names=ACCOUNT_MAIL)


async def confirm_email_change(tx: Transaction, settings: Settings, token: str, *, now: datetime) -> None:
    """Redeem a `change_email` token: the address it was mailed to becomes the account's email, verified,
    under a new security stamp.

    The account's other such tokens are spent, the mail still to be sent for it withdrawn, and every
    session of it ends: the sessions signed in under the old address, which the request that confirms
    (it has none of its own) cannot tell from a thief's. The old address is told. InvalidAccountToken for
    a token that does not work; EmailTaken when another account took the address meanwhile (the token
    then stays unused).
    """
    redeemed = await service.redeem_account_token(tx, token, purpose=TokenPurpose.CHANGE_EMAIL, now=now)
    before = None if redeemed is None else await users.USERS.get(tx, redeemed.user_id, lock=True)
    if redeemed is None or before is None:
        raise InvalidAccountToken
    user = await users.confirm_email(tx, before.id, email=redeemed.email, now=now)
    await service.spend_account_tokens(tx, user.id, purposes=[TokenPurpose.CHANGE_EMAIL], now=now)
    await service.end_other_sessions(tx, user.id, keep=None, now=now)
    await withdraw_account_mail(tx, user.id)
    body = email_changed_message(settings, user, old_email=before.email, now=now)
    await enqueue_email(tx, to=before.email, subject="Your Inkwell email address was changed", body=body)


async def _account_as_asked(tx: Transaction, payload: dict[str, Any]) -> UserRecord | None:
    """The account a job was asked for, locked, if it is still as it was then (its security stamp the
    same); None when it is gone or changed since (a new password, a reset, a new email)."""
    user_id = payload.get("user_id")
    user = None if not isinstance(user_id, int) else await users.USERS.get(tx, user_id, lock=True)
    if user is None or user.security_stamp != payload.get("stamp"):
        return None
    return user


async def send_email_verification(ctx: JobContext, payload: dict[str, Any]) -> None:
    now = utcnow()
    ttl = ctx.settings.verify_token_ttl
    async with ctx.database.transaction() as tx:
        user = await _account_as_asked(tx, payload)
        if user is None or user.email != payload["email"]:
            return  # gone, or changed since: a request of its own would follow
        token = await service.issue_account_token(
            tx, user, purpose=TokenPurpose.VERIFY_EMAIL, now=now, ttl=ttl
        )
    body = verification_message(ctx.settings, user, token, expires_at=now + timedelta(seconds=ttl))
    await deliver(ctx, to=user.email, subject="Verify your email address for Inkwell", body=body)


async def send_password_reset(ctx: JobContext, payload: dict[str, Any]) -> None:
    now = utcnow()
    ttl = ctx.settings.reset_token_ttl
    async with ctx.database.transaction() as tx:
        user = await _account_as_asked(tx, payload)
        if user is None:
            return  # no such account (the client was told nothing different), or changed since
        token = await service.issue_account_token(
            tx, user, purpose=TokenPurpose.RESET_PASSWORD, now=now, ttl=ttl
        )
    body = reset_message(ctx.settings, user, token, expires_at=now + timedelta(seconds=ttl))
    await deliver(ctx, to=user.email, subject="Reset your Inkwell password", body=body)


async def send_email_change(ctx: JobContext, payload: dict[str, Any]) -> None:
    now = utcnow()
    # As short-lived as a reset token: redeemed, it moves the account (and its resets) to the address.
    ttl = ctx.settings.reset_token_ttl
    email = payload["email"]
    async with ctx.database.transaction() as tx:
        user = await _account_as_asked(tx, payload)
        if user is None or user.email == email or await users.find_user(tx, email) is not None:
            return  # gone or changed since, the address is its own already, or another account's
        # Only the address asked for last can be confirmed.
        purpose = TokenPurpose.CHANGE_EMAIL
        await service.spend_account_tokens(tx, user.id, purposes=[purpose], now=now)
        token = await service.issue_account_token(tx, user, purpose=purpose, now=now, ttl=ttl, email=email)
    body = email_change_message(ctx.settings, user, email, token, expires_at=now + timedelta(seconds=ttl))
    await deliver(ctx, to=email, subject="Confirm your new email address for Inkwell", body=body)


def verification_message(settings: Settings, user: UserRecord, token: str, *, expires_at: datetime) -> str:
    url = f"{public_url(settings)}/auth/verify"
    return (
        f"Hello {user.name},\n\n"
        f"To confirm that {user.email} is your address on Inkwell, send this token to {url}:\n\n"
        f"Token: {token}\n\n"
        f"For example:\n\n"
        f"  curl -X POST {url} -H 'content-type: application/json' -d '{{\"token\": \"{token}\"}}'\n\n"
        f"{_expiry(expires_at)} If you did not ask for it, ignore this message.\n"
    )


def reset_message(settings: Settings, user: UserRecord, token: str, *, expires_at: datetime) -> str:
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


def email_change_message(
    settings: Settings, user: UserRecord, email: str, token: str, *, expires_at: datetime
) -> str:
    url = f"{public_url(settings)}/auth/confirm-email"
    return (
        f"Hello {user.name},\n\n"
        f"Someone (you, we hope) asked to make {email} the email address of an Inkwell account. To\n"
        f"confirm it, send this token to {url}:\n\n"
        f"Token: {token}\n\n"
        f"For example:\n\n"
        f"  curl -X POST {url} -H 'content-type: application/json' -d '{{\"token\": \"{token}\"}}'\n\n"
        f"Until then the account keeps its address. Once it is confirmed, every session of the account\n"
        f"ends: sign in again with {email}.\n"
        f"{_expiry(expires_at)} If you did not ask for it, ignore this message: nothing changes.\n"
    )


def email_changed_message(settings: Settings, user: UserRecord, *, old_email: str, now: datetime) -> str:
    url = public_url(settings)
    return (
        f"Hello {user.name},\n\n"
        f"The email address of your Inkwell account was changed from {old_email} to {masked(user.email)}\n"
        f"on {now:%Y-%m-%d %H:%M} UTC, with a token mailed to the new address. Every session of the account\n"
        f"has ended; from now on it signs in, and resets its password, with the new address only.\n\n"
        f"If you did this, there is nothing more to do.\n\n"
        f"If you did not, someone who knew your password has taken the account. Tell the people who run\n"
        f"Inkwell at {url} at once: an admin can have a confirmation mailed back to {old_email},\n"
        f"after which you can choose a new password at {url}/auth/forgot-password. Change it wherever\n"
        f"else you used the same one.\n"
    )


def masked(email: str) -> str:
    """`ada@example.com` as `a***@example.com`: enough for the owner to know it, not to write to it."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


def public_url(settings: Settings) -> str:
    return settings.public_url.rstrip("/")


def _expiry(expires_at: datetime) -> str:
    return f"The token works once, until {expires_at:%Y-%m-%d %H:%M} UTC."
