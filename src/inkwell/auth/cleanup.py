"""What sign-in leaves behind, deleted in the background (see inkwell.housekeeping): ended sessions
(with their refresh tokens), failed sign-ins that no longer count, and used or expired email tokens."""

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.auth.service import purge_ended_sessions, purge_spent_account_tokens
from inkwell.auth.throttle import purge_old_failures
from inkwell.housekeeping import purge_in_transaction

logger = logging.getLogger(__name__)


async def purge_sign_in_leftovers(
    sessionmaker: async_sessionmaker[AsyncSession], *, failure_window: int
) -> int:
    """Delete them; a database outage only skips this round."""

    async def purge(session: AsyncSession, now: datetime) -> int:
        purged = await purge_ended_sessions(session, now=now)
        purged += await purge_old_failures(session, now=now, window=failure_window)
        return purged + await purge_spent_account_tokens(session, now=now)

    return await purge_in_transaction(
        sessionmaker, purge, what="ended sessions, old failed sign-ins and spent tokens", logger=logger
    )
