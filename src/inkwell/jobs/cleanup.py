"""Finished jobs, deleted in the background (see inkwell.housekeeping) once kept long enough."""

import logging
from datetime import timedelta

from inkwell.db import Database
from inkwell.housekeeping import purge_in_transaction
from inkwell.jobs import service

logger = logging.getLogger(__name__)


async def purge_finished_jobs(database: Database, *, keep: timedelta) -> int:
    """Delete the done and dead jobs that finished more than `keep` ago; an outage only skips this round."""
    return await purge_in_transaction(
        database,
        lambda tx, now: service.delete_finished(tx, before=now - keep),
        what="finished jobs",
        logger=logger,
    )
