"""The app on a primary and replicas of the test's own (tests/replication.py), started by its lifespan as
`inkwell serve` starts it: the replicas' checks run, and the metrics show them."""

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
from pydantic import SecretStr

from inkwell.config import Settings
from inkwell.db import create_engine
from inkwell.main import create_app
from tests.accounts import TEST_SECRET_KEY
from tests.apps import BASE_URL
from tests.databases import migrate
from tests.replication import Pair


async def migrated(pair: Pair) -> None:
    """The primary migrated, and the replica caught up with it."""
    engine = create_engine(Settings(database_url=pair.primary.url, _env_file=None))
    await migrate(engine)
    await engine.dispose()
    await pair.caught_up()


def replica_settings(database_url: str, replica_urls: list[str], **changes: Any) -> Settings:
    """Sign-in on, small pools, and replicas checked often."""
    settings = Settings(
        database_url=database_url,
        db_replica_urls=replica_urls,
        _env_file=None,
        auth=True,
        secret_key=SecretStr(TEST_SECRET_KEY),
    )
    return settings.model_copy(
        update={
            "db_pool_size": 4,
            "db_replica_check_interval": 0.1,
            "sign_up_limit_per_address": 1000,
            "search_limit_per_address": 100_000,
            **changes,
        }
    )


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its own engines, started and stopped by its lifespan."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


READS = re.compile(r'^inkwell_db_reads_total\{reason="(\w+)",target="(\w+)"\} (\S+)$', re.MULTILINE)


async def read_counts(client: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    """Where the app's reads went, by (target, reason), as its /metrics shows them."""
    text = (await client.get("/metrics")).text
    return {(target, reason): float(value) for reason, target, value in READS.findall(text)}
