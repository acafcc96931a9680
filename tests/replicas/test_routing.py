"""How reads are spread over the replicas, and where each user's last write is remembered (no server)."""

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from inkwell.replicas import Positions, Replica, Replicas


def replicas(count: int) -> Replicas:
    # Engines that never connect: only the choice among them is tested here.
    engines = [create_async_engine(f"postgresql+asyncpg://inkwell@replica{n}/inkwell") for n in range(count)]
    return Replicas(
        [Replica(f"replica{n}:5432", engine) for n, engine in enumerate(engines)],
        positions=Positions(None, prefix="test", ttl=30),
        max_lag=10,
        wait=0.02,
        interval=1,
    )


def test_reads_without_a_position_go_to_each_replica_in_turn() -> None:
    chosen = replicas(3)

    names = [chosen.choose(None).name for _ in range(6)]  # type: ignore[union-attr]

    assert sorted(names) == sorted(["replica0:5432", "replica1:5432", "replica2:5432"] * 2)
    assert names[:3] == names[3:]


def test_a_replica_down_or_lagging_is_skipped_until_a_check_finds_it_well() -> None:
    chosen = replicas(3)
    first, second, third = chosen.all

    chosen.went_down(first, ConnectionRefusedError())
    chosen.mark(second, "lagging")

    assert {chosen.choose(None).name for _ in range(4)} == {third.name}  # type: ignore[union-attr]
    chosen.mark(third, "down")
    assert chosen.choose(None) is None


def test_a_read_with_a_position_goes_first_to_a_replica_known_to_have_replayed_it() -> None:
    chosen = replicas(3)
    chosen.all[0].replayed, chosen.all[1].replayed, chosen.all[2].replayed = 100, 300, 200

    assert [chosen.choose(250).name for _ in range(3)] == ["replica1:5432"] * 3  # type: ignore[union-attr]


async def test_without_redis_a_users_last_write_is_remembered_in_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    positions = Positions(None, prefix="test", ttl=30)

    await positions.remember(7, 200)
    await positions.remember(7, 100)  # an earlier write finishing later does not go back

    assert await positions.recall(7) == 200
    assert await positions.recall(8) is None
    monkeypatch.setattr("inkwell.replicas.time.monotonic", lambda: 1e12)
    assert await positions.recall(7) is None


def test_reads_with_a_position_every_replica_has_replayed_go_to_each_in_turn() -> None:
    chosen = replicas(2)
    for replica in chosen.all:
        replica.replayed = 500

    assert {chosen.choose(400).name for _ in range(2)} == {"replica0:5432", "replica1:5432"}  # type: ignore[union-attr]
