"""Sessions and tokens: statements on the transaction's connection, built from the tables of
auth.models. Like every service, these never commit: the caller's transaction does."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression, bindparam, delete, insert, or_, select, update

from inkwell.auth.models import AccountToken, AuthSession, RefreshToken, TokenPurpose
from inkwell.auth.tokens import (
    AccessClaims,
    new_account_token,
    new_refresh_token,
    new_session_id,
    token_digest,
)
from inkwell.db import Transaction, rowcount
from inkwell.fields import valid_id
from inkwell.orm import record, table_of
from inkwell.users.models import User, UserRecord

_USERS = table_of(User)
_SESSIONS = table_of(AuthSession)
_REFRESH_TOKENS = table_of(RefreshToken)
_ACCOUNT_TOKENS = table_of(AccountToken)


@dataclass(frozen=True)
class SessionTokens:
    """A session and the refresh token just issued for it (the only time the token exists in clear)."""

    user_id: int
    session_id: str
    refresh_token: str


async def start_session(tx: Transaction, user_id: int, *, now: datetime, ttl: int) -> SessionTokens:
    """A new session for the user, with its first refresh token."""
    session_id = new_session_id()
    values = {
        "id": session_id,
        "user_id": user_id,
        "created_at": now,
        "expires_at": now + timedelta(seconds=ttl),
    }
    await tx.connection.execute(insert(_SESSIONS), values)
    return SessionTokens(user_id, session_id, await _issue_refresh_token(tx, session_id, now))


async def _issue_refresh_token(tx: Transaction, session_id: str, now: datetime) -> str:
    token = new_refresh_token()
    values = {"token_hash": token_digest(token), "session_id": session_id, "created_at": now}
    await tx.connection.execute(insert(_REFRESH_TOKENS), values)
    return token


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


async def signed_in_user(tx: Transaction, claims: AccessClaims, *, now: datetime) -> UserRecord | None:
    """The token's user, if its session is still open: one statement checks both."""
    if not valid_id(claims.user_id):
        return None
    params = {"user_id": claims.user_id, "session_id": claims.session_id, "now": now}
    row = (await tx.connection.execute(_SIGNED_IN, params)).first()
    return None if row is None else record(row, UserRecord)


async def rotate(
    tx: Transaction, refresh_token: str, *, now: datetime, ttl: int, max_age: int
) -> SessionTokens | None:
    """A new refresh token for the session of `refresh_token`, which is used up; None if refused.

    Each refresh keeps the session open for `ttl` seconds more, but never past `max_age` seconds after
    its sign-in. A token presented a second time (stolen, or replayed) ends its whole session: every
    token of that sign-in answers 401 after, the thief's and the owner's alike.
    """
    digest = token_digest(refresh_token)
    found = (
        await tx.connection.execute(
            select(_SESSIONS)
            .join(_REFRESH_TOKENS, _REFRESH_TOKENS.c.session_id == _SESSIONS.c.id)
            .where(_REFRESH_TOKENS.c.token_hash == digest)
        )
    ).first()
    if found is None:
        return None
    # Checked here too, not only through expires_at: a session may predate a shorter max_age.
    deadline = found.created_at + timedelta(seconds=max_age)
    if found.revoked_at is not None or min(found.expires_at, deadline) <= now:
        return None
    # Used up in one statement: of two requests racing with the same token, only one claims it.
    claimed = await tx.connection.execute(
        update(_REFRESH_TOKENS)
        .where(_REFRESH_TOKENS.c.token_hash == digest, _REFRESH_TOKENS.c.used_at.is_(None))
        .values(used_at=now)
    )
    if rowcount(claimed) != 1:
        await end_session(tx, found.id, now=now)
        return None
    await tx.connection.execute(
        update(_SESSIONS)
        .where(_SESSIONS.c.id == found.id)
        .values(expires_at=min(now + timedelta(seconds=ttl), deadline))
    )
    return SessionTokens(found.user_id, found.id, await _issue_refresh_token(tx, found.id, now))


async def end_session(tx: Transaction, session_id: str, *, now: datetime) -> None:
    await tx.connection.execute(
        update(_SESSIONS)
        .where(_SESSIONS.c.id == session_id, _SESSIONS.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def end_other_sessions(tx: Transaction, user_id: int, *, keep: str | None, now: datetime) -> None:
    """End every open session of the user but `keep` (the one asking, when it stays signed in)."""
    statement = update(_SESSIONS).where(_SESSIONS.c.user_id == user_id, _SESSIONS.c.revoked_at.is_(None))
    if keep is not None:
        statement = statement.where(_SESSIONS.c.id != keep)
    await tx.connection.execute(statement.values(revoked_at=now))


async def purge_ended_sessions(tx: Transaction, *, now: datetime) -> int:
    """Delete sessions that ended (their refresh tokens go with them); how many."""
    ended = or_(_SESSIONS.c.revoked_at.is_not(None), _SESSIONS.c.expires_at <= now)
    return rowcount(await tx.connection.execute(delete(_SESSIONS).where(ended)))


async def issue_account_token(
    tx: Transaction,
    user: UserRecord,
    *,
    purpose: TokenPurpose,
    now: datetime,
    ttl: int,
    email: str | None = None,
) -> str:
    """A new token for `purpose`, bound to the address it is mailed to (the user's current email, or
    `email`, a new address to confirm) and to the user's security stamp. Only its hash is stored.

    The user's spent tokens (used or expired) are deleted on the way, so that they never pile up.
    """
    tokens = _ACCOUNT_TOKENS
    await tx.connection.execute(delete(tokens).where(tokens.c.user_id == user.id, _spent(now)))
    token = new_account_token()
    values = {
        "token_hash": token_digest(token),
        "user_id": user.id,
        "purpose": purpose,
        "email": user.email if email is None else email,
        "stamp": user.security_stamp,
        "created_at": now,
        "expires_at": now + timedelta(seconds=ttl),
    }
    await tx.connection.execute(insert(tokens), values)
    return token


@dataclass(frozen=True)
class RedeemedToken:
    user_id: int
    email: str  # the address the token was sent to


async def redeem_account_token(
    tx: Transaction, token: str, *, purpose: TokenPurpose, now: datetime
) -> RedeemedToken | None:
    """Use up `token`: its user and address, or None when it is unknown, used, expired, for another
    purpose, asked for under another security stamp of its account, or its account's email changed since
    it was sent (but for a `change_email` token, sent to the new address).

    One conditional UPDATE decides, so of two requests racing with the same token only one succeeds.
    """
    tokens = _ACCOUNT_TOKENS
    digest = token_digest(token)
    of_owner = _USERS.c.id == tokens.c.user_id
    current = (
        select(_USERS.c.email).where(of_owner).scalar_subquery(),
        select(_USERS.c.security_stamp).where(of_owner).scalar_subquery(),
    )
    claimed = await tx.connection.execute(
        update(tokens).where(*_redeemable(digest, purpose, now, current=current)).values(used_at=now)
    )
    if rowcount(claimed) != 1:
        return None
    found = (
        await tx.connection.execute(
            select(tokens.c.user_id, tokens.c.email).where(tokens.c.token_hash == digest)
        )
    ).one()
    return RedeemedToken(found.user_id, found.email)


async def is_redeemable(tx: Transaction, token: str, *, purpose: TokenPurpose, now: datetime) -> bool:
    """Whether `token` would be accepted now (redeeming it still decides)."""
    tokens = _ACCOUNT_TOKENS
    current = (_USERS.c.email, _USERS.c.security_stamp)
    query = (
        select(tokens.c.token_hash)
        .join(_USERS, _USERS.c.id == tokens.c.user_id)
        .where(*_redeemable(token_digest(token), purpose, now, current=current))
    )
    return await tx.connection.scalar(query) is not None


def _redeemable(
    digest: str,
    purpose: TokenPurpose,
    now: datetime,
    *,
    current: tuple[SQLColumnExpression[str], SQLColumnExpression[str]],
) -> tuple[ColumnElement[bool], ...]:
    """The token, for `purpose`, unused, unexpired, asked for under the security stamp its account still
    has, and sent to the address the account still has (`current`: the account's email and stamp).

    A `change_email` token was sent to the address the account is to have: only its stamp is compared.
    """
    email, stamp = current
    tokens = _ACCOUNT_TOKENS
    conditions = (tokens.c.token_hash == digest, tokens.c.stamp == stamp, *_usable(purpose, now))
    if purpose is TokenPurpose.CHANGE_EMAIL:
        return conditions
    return (*conditions, tokens.c.email == email)


def _usable(purpose: TokenPurpose, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Account tokens for `purpose` that are neither used nor expired."""
    tokens = _ACCOUNT_TOKENS
    return (tokens.c.purpose == purpose, tokens.c.used_at.is_(None), tokens.c.expires_at > now)


def _spent(now: datetime) -> ColumnElement[bool]:
    """Account tokens that can never be redeemed again: used, or expired."""
    return or_(_ACCOUNT_TOKENS.c.used_at.is_not(None), _ACCOUNT_TOKENS.c.expires_at <= now)


async def purge_spent_account_tokens(tx: Transaction, *, now: datetime) -> int:
    """Delete every used or expired account token; how many."""
    return rowcount(await tx.connection.execute(delete(_ACCOUNT_TOKENS).where(_spent(now))))


async def spend_account_tokens(
    tx: Transaction, user_id: int, *, purposes: Iterable[TokenPurpose], now: datetime
) -> None:
    """Use up every unused token of the user for `purposes` (the others mailed before a reset, say)."""
    tokens = _ACCOUNT_TOKENS
    await tx.connection.execute(
        update(tokens)
        .where(tokens.c.user_id == user_id, tokens.c.purpose.in_(list(purposes)), tokens.c.used_at.is_(None))
        .values(used_at=now)
    )


async def pending_email(tx: Transaction, user_id: int, *, now: datetime) -> str | None:
    """The new address the user asked for, while the token mailed to confirm it still works."""
    tokens = _ACCOUNT_TOKENS
    query = (
        select(tokens.c.email)
        .where(tokens.c.user_id == user_id, *_usable(TokenPurpose.CHANGE_EMAIL, now))
        .order_by(tokens.c.created_at.desc())
        .limit(1)
    )
    return await tx.connection.scalar(query)
