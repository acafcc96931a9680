"""The layers under `GET /users/{id}`, each timed on its own in the benchmark's process.

One user read by primary key, again and again after a warm-up, a different user each time, the CPU time
per read measured around the loop. From the driver up:

- `asyncpg pool`: `Pool.fetchrow` with hand-written SQL, what the ceiling (`bench/peers.py`) does;
- `asyncpg connection`: `fetchrow` on the driver connection of a connection SQLAlchemy's pool holds;
- `Core execute`: `AsyncConnection.execute` of Inkwell's own statement (built once) on a connection
  held for the whole loop, and the row read: SQLAlchemy's execution path and its greenlet adapter;
- `checkout and return`: a connection taken from Inkwell's engine for reads and given back, no statement;
- `Inkwell read`: `Database.reads()` and `users.service.get_user`, all that `GET /users/{id}` does
  below its route.

What a request pays above these (FastAPI, the middleware, uvicorn) is the rest of its CPU time in the
table of `make bench`.
"""

import time
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.peers import SELECT_USERS
from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.users import service

LAYERS = ("asyncpg pool", "asyncpg connection", "Core execute", "checkout and return", "Inkwell read")
SELECT_USER = SELECT_USERS + " WHERE id = $1"  # the ceiling's own statement


async def measure_layers(database_url: str, dsn: str, *, reads: int, user_ids: range) -> dict[str, float]:
    """CPU microseconds per read for each layer, reading the users of `user_ids` in turn."""
    database = Database(create_engine(Settings(database_url=database_url, _env_file=None)))
    engine = database.engine
    assert engine is not None
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        async with engine.connect() as held:
            driver = (await held.get_raw_connection()).driver_connection
            assert driver is not None
            steps: dict[str, Callable[[int], Awaitable[object]]] = {
                "asyncpg pool": lambda user_id: pool.fetchrow(SELECT_USER, user_id),
                "asyncpg connection": lambda user_id: driver.fetchrow(SELECT_USER, user_id),
                "Core execute": lambda user_id: _execute(held, user_id),
                "checkout and return": lambda _: _checkout(database),
                "Inkwell read": lambda user_id: _inkwell_read(database, user_id),
            }
            return {name: await _per_read(steps[name], reads=reads, user_ids=user_ids) for name in LAYERS}
    finally:
        await pool.close()
        await database.dispose()


async def _per_read(step: Callable[[int], Awaitable[object]], *, reads: int, user_ids: range) -> float:
    for n in range(max(1, reads // 10)):  # warm-up: statement caches, pool
        await step(user_ids[n % len(user_ids)])
    started = time.process_time()
    for n in range(reads):
        await step(user_ids[n % len(user_ids)])
    return round((time.process_time() - started) / reads * 1e6, 1)


async def _execute(connection: AsyncConnection, user_id: int) -> object:
    return (await connection.execute(service.USERS.by_id, {"row_id": user_id})).first()


async def _checkout(database: Database) -> None:
    async with database.reads():
        pass


async def _inkwell_read(database: Database, user_id: int) -> object:
    async with database.reads() as tx:
        return await service.USERS.get(tx, user_id)
