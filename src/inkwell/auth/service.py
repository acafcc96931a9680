"""Sessions and tokens. Like every service, these flush and query; the caller's transaction commits."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    Table,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from inkwell.auth.models import AccountToken, AuthSession, RefreshToken, TokenPurpose
from inkwell.auth.tokens import (
    AccessClaims,
    new_account_token,
    new_refresh_token,
    new_session_id,
    token_digest,
)
from inkwell.db import rowcount
from inkwell.fields import valid_id
from inkwell.orm import UTCDateTime
from inkwell.users.models import User, UserRecord


@dataclass(frozen=True)
class SessionTokens:
    """A session and the refresh token just issued for it (the only time the token exists in clear)."""

    user_id: int
    session_id: str
    refresh_token: str


async def find_account(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.lower()))


async def start_session(session: AsyncSession, user_id: int, *, now: datetime, ttl: int) -> SessionTokens:
    """A new session for the user, with its first refresh token."""
    auth_session = AuthSession(
        id=new_session_id(), user_id=user_id, created_at=now, expires_at=now + timedelta(seconds=ttl)
    )
    session.add(auth_session)
    await session.flush()
    return SessionTokens(user_id, auth_session.id, await _issue_refresh_token(session, auth_session.id, now))


async def _issue_refresh_token(session: AsyncSession, session_id: str, now: datetime) -> str:
    token = new_refresh_token()
    session.add(RefreshToken(token_hash=token_digest(token), session_id=session_id, created_at=now))
    await session.flush()
    return token


_USERS = cast(Table, User.__table__)
_SESSIONS = cast(Table, AuthSession.__table__)
_SIGNED_IN = (
    select(_USERS)
    .join(_SESSIONS, _SESSIONS.c.user_id == _USERS.c.id)
    .where(
        _USERS.c.id == bindparam("user_id"),
        _SESSIONS.c.id == bindparam("session_id"),
        _SESSIONS.c.revoked_at.is_(None),
        _SESSIONS.c.expires_at > bindparam("now"),
    )
)


async def signed_in_user(
    connection: AsyncConnection, claims: AccessClaims, *, now: datetime
) -> UserRecord | None:
    """The token's user, if its session is still open: one statement checks both."""
    if not valid_id(claims.user_id):
        return None
    params = {"user_id": claims.user_id, "session_id": claims.session_id, "now": now}
    row = (await connection.execute(_SIGNED_IN, params)).first()
    return None if row is None else UserRecord.of(row)


async def rotate(
    session: AsyncSession, refresh_token: str, *, now: datetime, ttl: int, max_age: int
) -> SessionTokens | None:
    """A new refresh token for the session of `refresh_token`, which is used up; None if refused.

    Each refresh keeps the session open for `ttl` seconds more, but never past `max_age` seconds after
    its sign-in. A token presented a second time (stolen, or replayed) ends its whole session: every
    token of that sign-in answers 401 after, the thief's and the owner's alike.
    """
    digest = token_digest(refresh_token)
    found = (
        await session.execute(
            select(RefreshToken.session_id, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == digest)
        )
    ).one_or_none()
    if found is None:
        return None
    session_id, auth_session = found
    # Checked here too, not only through expires_at: a session may predate a shorter max_age.
    deadline = auth_session.created_at + timedelta(seconds=max_age)
    if auth_session.revoked_at is not None or min(auth_session.expires_at, deadline) <= now:
        return None
    # Used up in one statement: of two requests racing with the same token, only one claims it.
    claimed = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == digest, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    if rowcount(claimed) != 1:
        await end_session(session, session_id, now=now)
        return None
    auth_session.expires_at = min(now + timedelta(seconds=ttl), deadline)
    return SessionTokens(
        auth_session.user_id, session_id, await _issue_refresh_token(session, session_id, now)
    )


async def end_session(session: AsyncSession, session_id: str, *, now: datetime) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def end_other_sessions(session: AsyncSession, user_id: int, *, keep: str | None, now: datetime) -> None:
    """End every open session of the user but `keep` (the one asking, when it stays signed in)."""
    statement = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep is not None:
        statement = statement.where(AuthSession.id != keep)
    await session.execute(statement.values(revoked_at=now))


async def set_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    # Not a change of the user's public fields: the row's version (its ETag) stays as it is.
    await session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


async def set_admin(session: AsyncSession, email: str, *, admin: bool) -> User | None:
    user = await find_account(session, email)
    if user is not None:
        user.is_admin = admin
        await session.flush()
    return user


async def purge_ended_sessions(session: AsyncSession, *, now: datetime) -> int:
    """Delete sessions that ended (their refresh tokens go with them); how many."""
    result = await session.execute(
        delete(AuthSession).where(or_(AuthSession.revoked_at.is_not(None), AuthSession.expires_at <= now))
    )
    return rowcount(result)


async def issue_account_token(
    session: AsyncSession,
    user: User,
    *,
    purpose: TokenPurpose,
    now: datetime,
    ttl: int,
    email: str | None = None,
) -> str:
    """A new token for `purpose`, bound to the address it is mailed to: the user's current email, or
    `email` (a new address to confirm). Only its hash is stored.

    The user's spent tokens (used or expired) are deleted on the way, so that they never pile up.
    """
    await session.execute(delete(AccountToken).where(AccountToken.user_id == user.id, _spent(now)))
    token = new_account_token()
    session.add(
        AccountToken(
            token_hash=token_digest(token),
            user_id=user.id,
            purpose=purpose,
            email=user.email if email is None else email,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
    )
    await session.flush()
    return token


@dataclass(frozen=True)
class RedeemedToken:
    user_id: int
    email: str  # the address the token was sent to


async def redeem_account_token(
    session: AsyncSession, token: str, *, purpose: TokenPurpose, now: datetime
) -> RedeemedToken | None:
    """Use up `token`: its user and address, or None when it is unknown, used, expired, for another
    purpose, or its account's email changed since it was sent (but for a `change_email` token, sent to
    the new address).

    One conditional UPDATE decides, so of two requests racing with the same token only one succeeds.
    """
    digest = token_digest(token)
    current_email = select(User.email).where(User.id == AccountToken.user_id).scalar_subquery()
    claimed = await session.execute(
        update(AccountToken)
        .where(*_redeemable(digest, purpose, now, current_email=current_email))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    user_id, email = (
        await session.execute(
            select(AccountToken.user_id, AccountToken.email).where(AccountToken.token_hash == digest)
        )
    ).one()
    return RedeemedToken(user_id, email)


async def is_redeemable(session: AsyncSession, token: str, *, purpose: TokenPurpose, now: datetime) -> bool:
    """Whether `token` would be accepted now (redeeming it still decides)."""
    query = (
        select(AccountToken.token_hash)
        .join(User, User.id == AccountToken.user_id)
        .where(*_redeemable(token_digest(token), purpose, now, current_email=User.email))
    )
    return await session.scalar(query) is not None


def _redeemable(
    digest: str, purpose: TokenPurpose, now: datetime, *, current_email: SQLColumnExpression[str]
) -> tuple[ColumnElement[bool], ...]:
    """The token, for `purpose`, unused, unexpired, and sent to the address its account still has.

    A `change_email` token was sent to the address the account is to have: nothing to compare. It is
    spent instead by whatever makes it stale (another change, a new password).
    """
    conditions = (AccountToken.token_hash == digest, *_usable(purpose, now))
    if purpose is TokenPurpose.CHANGE_EMAIL:
        return conditions
    return (*conditions, AccountToken.email == current_email)


def _usable(purpose: TokenPurpose, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Account tokens for `purpose` that are neither used nor expired."""
    return (AccountToken.purpose == purpose, AccountToken.used_at.is_(None), AccountToken.expires_at > now)


def _spent(now: datetime) -> ColumnElement[bool]:
    """Account tokens that can never be redeemed again: used, or expired."""
    return or_(AccountToken.used_at.is_not(None), AccountToken.expires_at <= now)


async def purge_spent_account_tokens(session: AsyncSession, *, now: datetime) -> int:
    """Delete every used or expired account token; how many."""
    return rowcount(await session.execute(delete(AccountToken).where(_spent(now))))


async def mark_email_verified(session: AsyncSession, user_id: int, *, email: str, now: datetime) -> bool:
    """Record that the user reads mail at `email`, if it is still their address; whether it is.

    Like a password, not a change of the user's public fields: the row's version stays as it is.
    """
    result = await session.execute(
        update(User)
        .where(User.id == user_id, User.email == email)
        # Verified again, it keeps the time it was first verified.
        .values(email_verified_at=func.coalesce(User.email_verified_at, literal(now, UTCDateTime())))
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def spend_account_tokens(
    session: AsyncSession, user_id: int, *, purposes: Iterable[TokenPurpose], now: datetime
) -> None:
    """Use up every unused token of the user for `purposes` (the others mailed before a reset, say)."""
    await session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose.in_(list(purposes)),
            AccountToken.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )


async def pending_email(session: AsyncSession, user_id: int, *, now: datetime) -> str | None:
    """The new address the user asked for, while the token mailed to confirm it still works."""
    query = (
        select(AccountToken.email)
        .where(AccountToken.user_id == user_id, *_usable(TokenPurpose.CHANGE_EMAIL, now))
        .order_by(AccountToken.created_at.desc())
        .limit(1)
    )
    return await session.scalar(query)
