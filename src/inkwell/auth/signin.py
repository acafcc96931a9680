"""Signing in, refreshing, and changing or resetting a password: the steps and their transactions.

Password hashing takes tens of milliseconds on purpose, so it runs between transactions, never inside
one: no connection, row or SQLite write lock is held while it runs. Every password attempt is counted
first, in a transaction of its own committed before the verification, so that concurrent attempts
cannot slip past the limit, and a refused one counts though its request fails.
"""

from inkwell.auth import emails, service
from inkwell.auth.dependencies import Viewer
from inkwell.auth.errors import (
    HashingBusy,
    InvalidAccountToken,
    InvalidCredentials,
    InvalidRefreshToken,
    WrongPassword,
)
from inkwell.auth.keys import Auth
from inkwell.auth.models import TokenPurpose
from inkwell.auth.passwords import Verdict
from inkwell.auth.schemas import TokenPair
from inkwell.auth.service import SessionTokens
from inkwell.auth.throttle import PasswordAttempt, Throttle
from inkwell.auth.tokens import issue_access_token
from inkwell.db import Database
from inkwell.orm import utcnow
from inkwell.replicas import note_writer
from inkwell.users import service as users
from inkwell.users.models import UserRecord

# A new password also withdraws a pending email change: whoever asked for it may have had the old one.
SPENT_BY_A_NEW_PASSWORD = (TokenPurpose.RESET_PASSWORD, TokenPurpose.CHANGE_EMAIL)


async def sign_in(
    auth: Auth,
    database: Database,
    throttle: Throttle,
    *,
    email: str,
    password: str,
    address: str,
) -> TokenPair:
    """A token pair for the account, if the password is right and neither it nor the address is throttled.

    The attempt counts against the account as it is stored, not as it was typed: a database may take
    other spellings for the same address (MariaDB's collation ignores accents and trailing spaces), and
    each spelling must not get a limit of its own.
    """
    async with database.reads() as tx:
        user = await users.find_user(tx, email)
    attempt = PasswordAttempt.of(
        auth.settings,
        email=email if user is None else user.email,
        address=address,
        stamp=None if user is None else user.security_stamp,
    )
    await attempt.count(throttle)
    verdict = await _verify(auth, throttle, attempt, password, None if user is None else user.password_hash)
    if user is None or not verdict.valid:
        raise InvalidCredentials
    async with database.transaction() as tx:
        if verdict.new_hash is not None:
            # Hashed with older parameters: stored again with the current ones.
            await users.rehash_password(tx, user.id, verdict.new_hash)
        # A session ends at its maximum age even when it is never refreshed.
        ttl = min(auth.settings.refresh_token_ttl, auth.settings.session_max_age)
        tokens = await service.start_session(tx, user.id, now=utcnow(), ttl=ttl)
        # In the same transaction as the new session, not one of its own.
        await attempt.succeeded(throttle, tx=tx)
    return token_pair(auth, tokens)


async def check_password(
    auth: Auth, throttle: Throttle, account: UserRecord, password: str, *, address: str
) -> None:
    """Refuse (WrongPassword) unless `password` is the account's current one, as a sign-in would.

    For the changes a stolen access token must not be able to make alone. The attempt counts against
    the same limits as sign-in's, before the verification, and no transaction is open meanwhile.
    """
    attempt = PasswordAttempt.of(
        auth.settings, email=account.email, address=address, stamp=account.security_stamp
    )
    await attempt.count(throttle)
    if not (await _verify(auth, throttle, attempt, password, account.password_hash)).valid:
        raise WrongPassword
    await attempt.succeeded(throttle)


async def _verify(
    auth: Auth, throttle: Throttle, attempt: PasswordAttempt, password: str, password_hash: str | None
) -> Verdict:
    """The verification of a counted attempt; one refused because hashing is busy is not counted."""
    try:
        return await auth.passwords.verify(password, password_hash)
    except HashingBusy:
        await attempt.not_tried(throttle)
        raise


async def refresh(auth: Auth, database: Database, refresh_token: str) -> TokenPair:
    """A new pair for a refresh token, which is used up. A reused one ends its session (committed)."""
    async with database.transaction() as tx:
        tokens = await service.rotate(
            tx,
            refresh_token,
            now=utcnow(),
            ttl=auth.settings.refresh_token_ttl,
            max_age=auth.settings.session_max_age,
        )
    if tokens is None:
        raise InvalidRefreshToken
    return token_pair(auth, tokens)


async def reset_password(auth: Auth, database: Database, *, token: str, new_password: str) -> None:
    """Set the password of the reset token's account, end every session of it, and spend its other
    reset and email change tokens.

    The token is looked at before the new password is hashed, so a wrong one costs no hashing; using
    it up in the transaction that sets the password decides.
    """
    purpose = TokenPurpose.RESET_PASSWORD
    async with database.reads() as tx:
        if not await service.is_redeemable(tx, token, purpose=purpose, now=utcnow()):
            raise InvalidAccountToken
    password_hash = await auth.passwords.hash(new_password)
    async with database.transaction() as tx:
        now = utcnow()
        redeemed = await service.redeem_account_token(tx, token, purpose=purpose, now=now)
        if redeemed is None:
            raise InvalidAccountToken
        user_id = redeemed.user_id
        note_writer(user_id)  # the sessions it ends are ended for every later read of the account
        await users.set_password(tx, user_id, password_hash)
        await service.end_other_sessions(tx, user_id, keep=None, now=now)
        await service.spend_account_tokens(tx, user_id, purposes=SPENT_BY_A_NEW_PASSWORD, now=now)
        await emails.withdraw_account_mail(tx, user_id)


async def change_password(
    auth: Auth,
    database: Database,
    throttle: Throttle,
    viewer: Viewer,
    *,
    current: str,
    new: str,
    address: str,
) -> None:
    """Set a new password if `current` is right; every other session of the account ends, and reset
    and email change tokens mailed before stop working."""
    account = viewer.user
    assert account is not None, "only signed-in users change a password"
    await check_password(auth, throttle, account, current, address=address)
    password_hash = await auth.passwords.hash(new)
    async with database.transaction() as tx:
        now = utcnow()
        await users.set_password(tx, account.id, password_hash)
        await service.end_other_sessions(tx, account.id, keep=viewer.session_id, now=now)
        await service.spend_account_tokens(tx, account.id, purposes=SPENT_BY_A_NEW_PASSWORD, now=now)
        await emails.withdraw_account_mail(tx, account.id)


def token_pair(auth: Auth, tokens: SessionTokens) -> TokenPair:
    # The session is new: the account's next reads, on a replica too, must find it.
    note_writer(tokens.user_id)
    ttl = auth.settings.access_token_ttl
    access_token = issue_access_token(
        auth.key, user_id=tokens.user_id, session_id=tokens.session_id, now=utcnow(), ttl=ttl
    )
    return TokenPair(access_token=access_token, expires_in=ttl, refresh_token=tokens.refresh_token)
