"""What sign-in leaves behind, deleted in the background: ended sessions (with their refresh tokens),
failed sign-ins that no longer count, and used or expired email tokens."""

import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.auth.service import purge_ended_sessions, purge_spent_account_tokens
from inkwell.auth.throttle import purge_old_failures
from inkwell.db import transaction
from inkwell.orm import utcnow

logger = logging.getLogger(__name__)


async def purge_sign_in_leftovers(
    sessionmaker: async_sessionmaker[AsyncSession], *, failure_window: int
) -> int:
    """Delete them in a transaction of their own; a database outage only skips this round."""
    now = utcnow()
    try:
        async with transaction(sessionmaker, writes=True) as session:
            purged = await purge_ended_sessions(session, now=now)
            purged += await purge_old_failures(session, now=now, window=failure_window)
            purged += await purge_spent_account_tokens(session, now=now)
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("could not purge ended sessions and spent tokens: %s", type(exc).__name__)
        return 0
    if purged:
        logger.info("purged %d ended sessions, old failed sign-ins and spent tokens", purged)
    return purged
