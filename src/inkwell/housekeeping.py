"""Rows that have served their time, deleted in the background, once per interval, by every process."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from inkwell.db import Database, Transaction
from inkwell.orm import utcnow

# Deletes what is due at `now` in the transaction; how many rows.
Purge = Callable[[Transaction, datetime], Awaitable[int]]


async def purge_periodically(purges: Sequence[Callable[[], Awaitable[int]]], *, interval: float) -> None:
    """Run each purge now and every `interval` seconds, until cancelled."""
    while True:
        for purge in purges:
            await purge()
        await asyncio.sleep(interval)


async def purge_in_transaction(database: Database, purge: Purge, *, what: str, logger: logging.Logger) -> int:
    """Run `purge` in a transaction of its own; a database outage only skips this round (with a warning)."""
    try:
        async with database.transaction() as tx:
            purged = await purge(tx, utcnow())
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("could not purge %s: %s", what, type(exc).__name__)
        return 0
    if purged:
        logger.info("purged %d %s", purged, what)
    return purged
