"""The search tests again on PostgreSQL and MariaDB with their optional indexes hidden (RUM, the Mroonga
table): the portable path, which a server without them takes, stays tested where the servers have them."""

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inkwell.posts import fulltext
from tests.databases import statements_run
from tests.posts.test_search import *  # noqa: F403
from tests.posts.test_search import found
from tests.posts.test_search_window import *  # noqa: F403

pytestmark = pytest.mark.backends("postgresql", "mariadb")


@pytest.fixture(autouse=True)
def without_optional_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    async def absent(_connection: AsyncConnection) -> bool:
        return False

    monkeypatch.setattr(fulltext, "has_rum_index", absent)
    monkeypatch.setattr(fulltext, "has_mroonga_table", absent)


async def test_no_optional_index_is_used(
    engine: AsyncEngine, committed_client: httpx.AsyncClient, write: Any
) -> None:
    await write("Lovage", "Lovage soup.")

    with statements_run(engine) as run:
        assert await found(committed_client, "lovage") == ["Lovage"]

    assert run
    assert not any("posts_search" in statement or "<=|" in statement for statement in run)
