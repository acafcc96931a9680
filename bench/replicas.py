"""The replica run: what routing reads to a replica costs a request.

A PostgreSQL primary and a streaming replica of the run's own (started as the suite's replica tests start
them: tests/replication.py), seeded once on the primary. GET /users/{id} and the first page of posts are
measured side by side on two servers of that primary, one reading from the replica (target `replica`)
and one without replicas (target `primary`), with nothing lagging: the replica has replayed the seed
before either is measured. Sign-in off and no Redis, as the main run: each read goes to the replica with
no position to wait for, so the ratio is the routing's own cost (a read on a replica's connection, chosen
in turn among the healthy ones).
"""

import asyncio
import glob
from typing import TYPE_CHECKING

from bench import seed
from bench.report import Check, Measurement, Results
from bench.scenarios import user_scenarios

if TYPE_CHECKING:
    from bench.run import Bench

SCENARIOS = ("get_user", "list_posts")
FLOOR = 0.9


def run(bench: "Bench") -> None:
    scenarios = [s for s in bench.selected(user_scenarios(bench.options.size)) if s.name in SCENARIOS]
    if not scenarios:
        return
    if not glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup"):
        print("  no PostgreSQL server programs (pg_basebackup): the replica run is skipped", flush=True)
        return
    # Imported here: the run needs pytest's helpers only when it starts a replica.
    from tests.replication import streaming_pair

    size = bench.options.size
    with streaming_pair(max_connections=3 * bench.options.pool_size) as pair:
        print(f"PostgreSQL replica: seeding {size.users:,} users and {size.posts:,} posts", flush=True)
        seed.migrate(pair.primary.url)
        asyncio.run(seed.seed_postgresql(pair.primary.url, size))
        asyncio.run(pair.caught_up())
        replicated = {"INKWELL_DB_REPLICA_URLS": pair.replica.url}
        with (
            bench.inkwell(pair.primary.url) as alone,
            bench.inkwell(pair.primary.url, settings=replicated) as server,
        ):
            side_by_side = [(alone, "primary", "postgresql"), (server, "replica", "postgresql")]
            # Twice, the second time in the other order: on a shared machine, whichever server goes
            # second in a pair meets a load that moved meanwhile.
            bench.measure_side_by_side(scenarios, side_by_side)
            bench.measure_side_by_side(scenarios, side_by_side[::-1])


def checks(results: Results) -> list[Check]:
    """Each request read from a replica against the same request on the same server without one, over
    both rounds."""
    found = []
    for scenario in SCENARIOS:
        replica = _measured(results, "replica", scenario)
        primary = _measured(results, "primary", scenario)
        if not replica or not primary or not sum(m.requests_per_second for m in primary):
            continue
        ratio = sum(m.requests_per_second for m in replica) / sum(m.requests_per_second for m in primary)
        met = ratio >= FLOOR and not any(m.errors for m in replica)
        found.append(
            Check(f"Read replica, {replica[0].label}", f">= {FLOOR} without replicas", f"{ratio:.2f}", met)
        )
    return found


def _measured(results: Results, target: str, scenario: str) -> list[Measurement]:
    return [
        m
        for m in results.measurements
        if (m.target, m.database, m.scenario) == (target, "postgresql", scenario)
    ]
