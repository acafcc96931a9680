"""The search's Mroonga table on MariaDB, brought back in step with the posts in the background (see
inkwell.housekeeping and inkwell.posts.fulltext); nothing elsewhere."""

import logging

from inkwell.db import Database
from inkwell.housekeeping import purge_in_transaction
from inkwell.posts import fulltext

logger = logging.getLogger(__name__)


async def reconcile_search_texts(database: Database) -> int:
    """Remove the texts no post holds any more, add those missing; a database outage only skips this
    round."""
    return await purge_in_transaction(
        database,
        lambda tx, _now: fulltext.reconcile_texts(tx.connection),
        what="search texts out of step",
        logger=logger,
    )
