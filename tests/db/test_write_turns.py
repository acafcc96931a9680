"""SQLite lets one writer in at a time: a server's writers take turns, in the order they asked."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from inkwell.config import Settings
from inkwell.db import Database, create_engine, write_timeout


async def test_sqlite_writers_take_turns_in_the_order_they_asked(tmp_path: Path) -> None:
    engine = create_engine(Settings(database_url=f"sqlite:///{tmp_path / 'turns.db'}", _env_file=None))
    database = Database(engine)
    async with database.transaction() as tx:
        await tx.connection.execute(text("CREATE TABLE arrivals (writer INTEGER NOT NULL)"))
    first_holds_the_lock = asyncio.Event()
    release = asyncio.Event()

    async def write(writer: int) -> None:
        async with database.transaction() as tx:
            await tx.connection.execute(text("INSERT INTO arrivals (writer) VALUES (:w)"), {"w": writer})
            if writer == 0:
                first_holds_the_lock.set()
                await release.wait()

    try:
        writers = [asyncio.create_task(write(0))]
        await first_holds_the_lock.wait()
        for writer in range(1, 9):  # each asks while the ones before it wait
            writers.append(asyncio.create_task(write(writer)))
            await asyncio.sleep(0.03)
        release.set()
        await asyncio.gather(*writers)
        async with database.reads() as tx:
            order = await tx.connection.execute(text("SELECT writer FROM arrivals ORDER BY rowid"))
            assert list(order.scalars()) == list(range(9))
    finally:
        await database.dispose()


async def test_a_writer_that_waits_past_the_busy_timeout_gives_up(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'turns.db'}", sqlite_busy_timeout_ms=100, _env_file=None
    )
    database = Database(create_engine(settings), write_timeout=write_timeout(settings))
    try:
        async with database.transaction():
            with pytest.raises(TimeoutError):
                async with database.transaction():
                    pass
    finally:
        await database.dispose()
