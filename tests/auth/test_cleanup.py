"""Ended sessions, throttle counts whose window ended and spent tokens are deleted; the rest stays."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.auth.cleanup import purge_sign_in_leftovers
from inkwell.auth.models import AccountToken, AuthSession, RefreshToken, ThrottleCounter
from inkwell.db import Database
from inkwell.orm import utcnow
from tests.factories import make_user


async def test_only_what_has_ended_is_purged(session: AsyncSession, database: Database) -> None:
    user = await make_user(session)
    now = utcnow()
    later, earlier = now + timedelta(days=1), now - timedelta(seconds=1)
    session.add_all(
        [
            AuthSession(id="open", user_id=user.id, expires_at=later),
            AuthSession(id="revoked", user_id=user.id, expires_at=later, revoked_at=now),
            AuthSession(id="expired", user_id=user.id, expires_at=earlier),
        ]
    )
    await session.flush()
    session.add_all(
        [
            RefreshToken(token_hash="a" * 64, session_id="open"),
            RefreshToken(token_hash="b" * 64, session_id="revoked"),
            ThrottleCounter(key="account:x", hits=3, window_ends=later),
            ThrottleCounter(key="account:y", hits=5, window_ends=earlier),
            AccountToken(
                token_hash="c" * 64,
                user_id=user.id,
                purpose="verify_email",
                email=user.email,
                stamp=user.security_stamp,
                expires_at=later,
            ),
            AccountToken(
                token_hash="d" * 64,
                user_id=user.id,
                purpose="verify_email",
                email=user.email,
                stamp=user.security_stamp,
                expires_at=earlier,
            ),
            AccountToken(
                token_hash="e" * 64,
                user_id=user.id,
                purpose="reset_password",
                email=user.email,
                stamp=user.security_stamp,
                expires_at=later,
                used_at=now,
            ),
        ]
    )
    await session.commit()

    purged = await purge_sign_in_leftovers(database)

    session.expire_all()
    assert list(await session.scalars(select(AuthSession.id))) == ["open"]
    assert list(await session.scalars(select(RefreshToken.token_hash))) == ["a" * 64]
    assert list(await session.scalars(select(ThrottleCounter.key))) == ["account:x"]
    assert list(await session.scalars(select(AccountToken.token_hash))) == ["c" * 64]
    assert purged == 2 + 1 + 2
