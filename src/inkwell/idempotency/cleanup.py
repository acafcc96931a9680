"""Expired idempotency keys are deleted in the background, once per interval, by every process."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.db import transaction
from inkwell.idempotency import service
from inkwell.orm import utcnow

logger = logging.getLogger(__name__)


async def purge_periodically(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    interval: float,
    also: Sequence[Callable[[], Awaitable[int]]] = (),
) -> None:
    """Purge expired keys (and whatever `also` purges) now and every `interval` seconds, until cancelled."""
    while True:
        await purge_once(sessionmaker)
        for purge in also:
            await purge()
        await asyncio.sleep(interval)


async def purge_once(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """Delete the expired keys in a transaction of their own; a database outage only skips this round."""
    try:
        async with transaction(sessionmaker, writes=True) as session:
            purged = await service.purge_expired(session, now=utcnow())
    except (SQLAlchemyError, OSError) as exc:
        logger.warning("could not purge expired idempotency keys: %s", type(exc).__name__)
        return 0
    if purged:
        logger.info("purged %d expired idempotency keys", purged)
    return purged
