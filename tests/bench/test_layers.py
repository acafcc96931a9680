"""The layers under GET /users/{id} (bench/layers.py): each reads the users it is given, and is reported."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bench import layers
from bench.layers import LAYERS, measure_layers
from bench.report import Results, table
from bench.seed import asyncpg_dsn
from inkwell.users.models import User
from tests.factories import make_user

# The ceiling it compares with runs on PostgreSQL, as the benchmark does.
pytestmark = pytest.mark.backends("postgresql")


@pytest.fixture
async def user_ids(engine: AsyncEngine) -> AsyncIterator[range]:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        first, second = await make_user(session), await make_user(session)
    assert second.id == first.id + 1
    yield range(first.id, second.id + 1)
    async with engine.begin() as conn:
        await conn.execute(delete(User).where(User.id.in_([first.id, second.id])))


async def test_every_layer_is_timed_reading_the_users_given(
    database_url: str, user_ids: range, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: dict[str, list[int | None]] = {}
    per_read = layers._per_read

    async def recorded(step, *, reads: int, user_ids: range) -> float:  # type: ignore[no-untyped-def]
        async def reading(user_id: int) -> object:
            found = await step(user_id)
            read.setdefault(name, []).append(None if found is None else _id_of(found))
            return found

        name = LAYERS[len(read)]
        return await per_read(reading, reads=reads, user_ids=user_ids)

    monkeypatch.setattr(layers, "_per_read", recorded)

    figures = await measure_layers(database_url, asyncpg_dsn(database_url), reads=10, user_ids=user_ids)

    assert list(figures) == list(LAYERS)
    assert all(figure > 0 for figure in figures.values())
    for name in ("asyncpg pool", "asyncpg connection", "Core execute", "Inkwell read"):
        assert set(read[name]) == set(user_ids), name


def _id_of(row: object) -> int:
    return int(row["id"] if isinstance(row, asyncpg.Record) else row.id)  # type: ignore[attr-defined]


def test_the_table_lists_the_layers() -> None:
    results = Results(machine={}, settings={}, layers={"asyncpg pool": 95.0, "Inkwell read": 300.5})

    printed = table(results)

    assert "Layers under GET /users/{id}" in printed
    assert "asyncpg pool" in printed
    assert "300.5" in printed
