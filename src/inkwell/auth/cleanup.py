"""What sign-in leaves behind, deleted in the background (see inkwell.housekeeping): ended sessions
(with their refresh tokens), throttle counts whose window ended, and used or expired email tokens."""

import logging
from datetime import datetime

from inkwell.auth.service import purge_ended_sessions, purge_spent_account_tokens
from inkwell.auth.throttle import purge_ended_windows
from inkwell.db import Database, Transaction
from inkwell.housekeeping import purge_in_transaction

logger = logging.getLogger(__name__)


async def purge_sign_in_leftovers(database: Database) -> int:
    """Delete them; a database outage only skips this round."""

    async def purge(tx: Transaction, now: datetime) -> int:
        purged = await purge_ended_sessions(tx, now=now)
        purged += await purge_ended_windows(tx, now=now)
        return purged + await purge_spent_account_tokens(tx, now=now)

    return await purge_in_transaction(
        database, purge, what="ended sessions, ended throttle windows and spent tokens", logger=logger
    )
