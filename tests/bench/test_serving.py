"""What the benchmark compares Inkwell with is served as Inkwell is: the same garbage collector settings
while it serves, a pool that releases a connection without a round trip, and a start-up that fails
exiting instead of serving errors."""

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.types import ASGIApp, Message

from bench.ceilings import RawUserApp, bare_app
from bench.peers import asyncpg_app, seed_app
from bench.run import ROOT
from bench.seed import asyncpg_dsn
from bench.servers import ServerError, ceiling_command, free_port, peer_command, serving
from bench.serving import open_pool
from inkwell.config import Settings
from inkwell.db import async_url

# What `inkwell serve` runs with unless INKWELL_GC_THRESHOLD says otherwise, as the benchmark leaves it.
INKWELL_THRESHOLD = Settings.model_fields["gc_threshold"].default


@asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """`app` started and, when the block ends, shut down through the ASGI lifespan, as uvicorn does."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

    async def run() -> None:
        await app(scope, to_app.get, from_app.put)

    running = asyncio.create_task(run())
    await to_app.put({"type": "lifespan.startup"})
    assert (await from_app.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        assert (await from_app.get())["type"] == "lifespan.shutdown.complete"
        await running


def app_named(which: str, database_url: str) -> ASGIApp:
    dsn = asyncpg_dsn(database_url)
    if which == "bare":
        return bare_app()
    if which == "raw":
        return RawUserApp(dsn, pool_size=1)
    if which == "asyncpg":
        return asyncpg_app(dsn, pool_size=1)
    return seed_app(async_url(database_url).render_as_string(False), pool_size=1)


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize("which", ["bare", "raw", "asyncpg", "seed"])
async def test_each_server_collects_garbage_as_inkwell_while_it_serves(which: str, database_url: str) -> None:
    before = gc.get_threshold()

    async with lifespan(app_named(which, database_url)):
        serving_threshold = gc.get_threshold()
        frozen = gc.get_freeze_count()

    assert serving_threshold == (INKWELL_THRESHOLD, before[1], before[2])
    assert frozen > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.backends("postgresql")
async def test_the_pool_releases_a_connection_as_it_is_but_for_an_open_transaction(database_url: str) -> None:
    async with open_pool(asyncpg_dsn(database_url), size=1) as pool:
        async with pool.acquire() as connection:
            await connection.execute("SET application_name = 'kept by the pool'")
            transaction = connection.transaction()
            await transaction.start()
        async with pool.acquire() as connection:
            name = await connection.fetchval("SHOW application_name")
            in_transaction = connection.is_in_transaction()

    assert name == "kept by the pool"
    assert not in_transaction


@pytest.mark.parametrize("which", ["raw", "asyncpg"])
def test_a_server_that_cannot_open_its_pool_exits_instead_of_serving(which: str, tmp_path: Path) -> None:
    port = free_port()
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    if which == "raw":
        command = ceiling_command(which, port, dsn=nowhere, pool_size=1)
    else:
        command = peer_command(which, port, dsn=nowhere, pool_size=1)

    with (
        pytest.raises(ServerError, match="exited before serving"),
        serving(which, command, port, env={"PYTHONPATH": str(ROOT)}, probe="/users/1", cwd=tmp_path),
    ):
        pass
