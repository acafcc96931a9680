"""Expired idempotency keys, deleted in the background (see inkwell.housekeeping)."""

import logging

from inkwell.db import Database
from inkwell.housekeeping import purge_in_transaction
from inkwell.idempotency import service

logger = logging.getLogger(__name__)


async def purge_once(database: Database) -> int:
    """Delete the expired keys; a database outage only skips this round."""
    return await purge_in_transaction(
        database,
        lambda tx, now: service.purge_expired(tx, now=now),
        what="expired idempotency keys",
        logger=logger,
    )
