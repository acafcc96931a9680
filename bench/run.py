"""`make bench`: seed fresh databases, serve Inkwell and its two ceilings, load them with wrk, report."""

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from sqlalchemy.engine import make_url

import redis
from bench import replicas, report, search, seed
from bench.layers import measure_layers
from bench.otlp import otlp_sink
from bench.report import Measurement, Results
from bench.scenarios import (
    FLOOD_READERS,
    SIGNED_IN_SCENARIOS,
    Flood,
    Scenario,
    cached_scenarios,
    ceiling_scenario,
    flood_scenarios,
    growth_scenarios,
    mixed_scenario,
    traced_scenarios,
    user_scenarios,
)
from bench.seed import Size
from bench.servers import (
    BIN,
    MemorySampler,
    Server,
    ceiling_command,
    cpu_seconds,
    free_port,
    inkwell_command,
    peer_command,
    serving,
)
from bench.wrk import Load, WrkMissing, find_wrk, run_wrk, start_wrk, wait_for_wrk, wrk_command

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Options:
    quick: bool
    databases: tuple[str, ...]
    size: Size
    growth: Size | None
    seconds: float
    warmup: float
    soak_seconds: float
    scenarios: frozenset[str]
    connections: int
    writers: int
    threads: int
    pool_size: int
    workers: int
    postgresql_url: str
    redis_url: str
    results_dir: Path
    # The search mode: only the search runs, on these databases, at 10,000 and at search_rows posts.
    search: bool = False
    search_rows: int = 1_000_000
    search_databases: tuple[str, ...] = ("postgresql", "sqlite", "mariadb")
    mariadb_url: str = "mysql://root@127.0.0.1:3306/mysql"


def parse_options(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> Options:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", default=env.get("BENCH_QUICK", "") not in ("", "0"))
    parser.add_argument("--databases", default=env.get("BENCH_DATABASES", "postgresql sqlite"))
    parser.add_argument(
        "--scenarios", default=env.get("BENCH_SCENARIOS", ""), help="only these scenarios (default: all)"
    )
    parser.add_argument("--users", type=int, default=_int(env, "BENCH_USERS"))
    parser.add_argument("--posts", type=int, default=_int(env, "BENCH_POSTS"))
    parser.add_argument("--growth", action=argparse.BooleanOptionalAction, default=_flag(env, "BENCH_GROWTH"))
    parser.add_argument("--growth-rows", type=int, default=_int(env, "BENCH_GROWTH_ROWS") or 1_000_000)
    parser.add_argument("--seconds", type=float, default=_float(env, "BENCH_SECONDS"))
    parser.add_argument("--soak-seconds", type=float, default=_float(env, "BENCH_SOAK_SECONDS"))
    parser.add_argument("--connections", type=int, default=_int(env, "BENCH_CONNECTIONS") or 32)
    parser.add_argument("--writers", type=int, default=_int(env, "BENCH_WRITERS") or 64)
    parser.add_argument(
        "--threads",
        type=int,
        default=_int(env, "BENCH_THREADS") or 1,
        help="wrk's threads: one leaves the other cores to the server and its database",
    )
    parser.add_argument("--pool-size", type=int, default=_int(env, "BENCH_POOL_SIZE") or 32)
    parser.add_argument("--workers", type=int, default=_int(env, "BENCH_WORKERS") or 1)
    parser.add_argument(
        "--postgresql-url",
        default=env.get("BENCH_POSTGRESQL_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a maintenance database on the server; the benchmark creates and drops its own databases",
    )
    parser.add_argument(
        "--redis-url",
        default=env.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="for the cached reads (keys under a prefix of the run's own, deleted after); empty: skip them",
    )
    parser.add_argument("--results-dir", type=Path, default=Path(env.get("BENCH_RESULTS_DIR", RESULTS)))
    parser.add_argument(
        "--search",
        action=argparse.BooleanOptionalAction,
        default=_flag(env, "BENCH_SEARCH") or False,
        help="run only the search benchmark (it seeds BENCH_SEARCH_ROWS posts in each database)",
    )
    parser.add_argument("--search-rows", type=int, default=_int(env, "BENCH_SEARCH_ROWS"))
    parser.add_argument(
        "--search-databases", default=env.get("BENCH_SEARCH_DATABASES", "postgresql sqlite mariadb")
    )
    parser.add_argument(
        "--mariadb-url",
        default=env.get("BENCH_MARIADB_URL", "mysql://root@127.0.0.1:3306/mysql"),
        help="for the search mode: the benchmark creates and drops its own database on this server",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    users = args.users or (1_000 if quick else 10_000)
    posts = args.posts or max(users * 5, seed.HOT_AUTHORS * seed.HOT_POSTS)
    growth = args.growth if args.growth is not None else not quick
    databases = tuple(args.databases.replace(",", " ").split())
    unknown = set(databases) - {"postgresql", "sqlite"}
    if unknown:
        parser.error(f"unknown databases {sorted(unknown)}: use postgresql and sqlite")
    search_databases = tuple(args.search_databases.replace(",", " ").split())
    unknown = set(search_databases) - {"postgresql", "sqlite", "mariadb", "mariadb-innodb"}
    if unknown:
        parser.error(
            f"unknown search databases {sorted(unknown)}: use postgresql, sqlite, mariadb and mariadb-innodb"
        )
    return Options(
        quick=quick,
        databases=databases,
        size=Size(users, posts),
        growth=Size(args.growth_rows, args.growth_rows) if growth and "postgresql" in databases else None,
        seconds=args.seconds or (1 if quick else 10),
        warmup=1 if quick else 3,
        soak_seconds=(4 if quick else 60) if args.soak_seconds is None else args.soak_seconds,
        scenarios=frozenset(args.scenarios.replace(",", " ").split()),
        connections=args.connections,
        writers=args.writers,
        threads=args.threads,
        pool_size=args.pool_size,
        workers=args.workers,
        postgresql_url=args.postgresql_url,
        redis_url=args.redis_url,
        results_dir=args.results_dir,
        search=args.search,
        search_rows=args.search_rows or (20_000 if quick else 1_000_000),
        search_databases=search_databases,
        mariadb_url=args.mariadb_url,
    )


def _int(env: Any, name: str) -> int | None:
    return int(env[name]) if env.get(name) else None


def _float(env: Any, name: str) -> float | None:
    return float(env[name]) if env.get(name) else None


def _flag(env: Any, name: str) -> bool | None:
    return env[name] not in ("0", "false", "no") if env.get(name) else None


class Bench:
    """One run: the servers it starts, the loads it drives and the figures it collects."""

    def __init__(self, options: Options, wrk: str) -> None:
        self.options = options
        self.wrk = wrk
        self.tags = (f"{int(time.time())}x{n}" for n in count())
        self.workdir = Path(tempfile.mkdtemp(prefix="inkwell-bench-"))
        self.results = Results(machine=machine(options), settings=settings(options))
        self.redis_prefix = f"inkwell-bench-{os.getpid()}"
        self.secret_key = secrets.token_hex(32)

    def selected(self, scenarios: list[Scenario]) -> list[Scenario]:
        wanted = self.options.scenarios
        return [scenario for scenario in scenarios if not wanted or scenario.name.startswith(tuple(wanted))]

    def measure(
        self,
        server: Server,
        scenario: Scenario,
        *,
        target: str,
        database: str,
        users: int,
        connections: int | None = None,
        headers: dict[str, str] | None = None,
        per_request_cpu: bool = True,
    ) -> Measurement:
        connections = connections or self.options.connections
        warmup = Load(self.options.threads, connections, self.options.warmup)
        self._drive(server, scenario, warmup, headers)
        cpu_before = cpu_seconds(server.process.pid)
        load = Load(self.options.threads, connections, self.options.seconds)
        result = self._drive(server, scenario, load, headers)
        cpu_used = cpu_seconds(server.process.pid) - cpu_before
        measurement = Measurement.from_wrk(
            result,
            target=target,
            database=database,
            users=users,
            scenario=scenario.name,
            label=scenario.label,
            connections=connections,
        )
        if result.requests and per_request_cpu:
            measurement.cpu_us_per_request = round(cpu_used / result.requests * 1e6, 1)
        self.results.measurements.append(measurement)
        cpu = measurement.cpu_us_per_request
        print(
            f"  {target:<8} {database:<10} {scenario.label:<28} "
            f"{measurement.requests_per_second:>9,.0f} req/s "
            f"{'-' if cpu is None else f'{cpu:.0f}':>5} us CPU"
            f"  p99 {measurement.p99_ms:6.2f} ms  errors {measurement.errors}",
            flush=True,
        )
        return measurement

    def _drive(
        self, server: Server, scenario: Scenario, load: Load, headers: dict[str, str] | None = None
    ) -> Any:
        return run_wrk(self._wrk_command(server, scenario, load, headers))

    def _wrk_command(
        self, server: Server, scenario: Scenario, load: Load, headers: dict[str, str] | None = None
    ) -> list[str]:
        args = [arg.format(tag=next(self.tags)) for arg in scenario.args]
        return wrk_command(self.wrk, server.url, scenario.script, args, load, headers)

    # Servers.

    def server_env(
        self, database_url: str, *, log_level: str = "warning", redis: bool = False, auth: bool = False
    ) -> dict[str, str]:
        cache = {"INKWELL_REDIS_URL": self.options.redis_url, "INKWELL_REDIS_PREFIX": self.redis_prefix}
        return {
            **(cache if redis else {}),
            "DATABASE_URL": database_url,
            # Sign-in off, so the figures compare the same work as the ceilings do; `auth` runs measure it on.
            "INKWELL_AUTH": "on" if auth else "off",
            "INKWELL_SECRET_KEY": self.secret_key,
            # At "info" every request writes a log line; the ceilings write none.
            "INKWELL_LOG_LEVEL": log_level,
            "INKWELL_LOG_FORMAT": "json",
            "INKWELL_DB_POOL_SIZE": str(self.options.pool_size),
            # The deep `?offset=` pages (the last of 1,000,000 users) measure what the default cap refuses.
            "INKWELL_MAX_OFFSET": str(2**31 - 1),
            "PYTHONPATH": str(ROOT),
            # Untraced whatever the shell running the benchmark sets; the `tracing` run turns it on.
            "OTEL_SDK_DISABLED": "true",
        }

    @contextmanager
    def inkwell(
        self,
        database_url: str,
        *,
        workers: int | None = None,
        log_level: str = "warning",
        redis: bool = False,
        auth: bool = False,
        settings: dict[str, str] | None = None,
    ) -> Iterator[Server]:
        port = free_port()
        command = inkwell_command(port, workers=workers or self.options.workers)
        env = {
            **self.server_env(database_url, log_level=log_level, redis=redis, auth=auth),
            **(settings or {}),
        }
        with serving("inkwell", command, port, env=env, probe="/users/1", cwd=self.workdir) as server:
            yield server

    @contextmanager
    def ceiling(self, which: str, database_url: str) -> Iterator[Server]:
        port = free_port()
        dsn = seed.asyncpg_dsn(database_url) if which == "raw" else None
        command = ceiling_command(which, port, dsn=dsn, pool_size=self.options.pool_size)
        with serving(
            which, command, port, env=self.server_env(database_url), probe="/users/1", cwd=self.workdir
        ) as server:
            yield server

    @contextmanager
    def peer(self, which: str, database_url: str) -> Iterator[Server]:
        port = free_port()
        command = peer_command(
            which, port, dsn=seed.asyncpg_dsn(database_url), pool_size=self.options.pool_size
        )
        with serving(
            which, command, port, env=self.server_env(database_url), probe="/users/1", cwd=self.workdir
        ) as server:
            yield server

    # The runs.

    def run_postgresql(self, sqlite_url: str | None = None) -> None:
        """Every request on Inkwell, the ceiling and the tutorial; with `sqlite_url`, on Inkwell on SQLite
        too (`run_sqlite` then measures only what is SQLite's own)."""
        size = self.options.size
        with self.postgresql_database("inkwell_bench", size) as url:
            self.measure_layers(url)
            scenario = ceiling_scenario(size)
            for which in ("raw", "bare"):
                with self.ceiling(which, url) as server:
                    self.measure(server, scenario, target=which, database="postgresql", users=size.users)
            # The tutorial on its own: its pool and the two below would pass PostgreSQL's 100 connections.
            with self.peer("seed", url) as server:
                for peer_scenario in self.selected(user_scenarios(size)):
                    self.measure(
                        server, peer_scenario, target="seed", database="postgresql", users=size.users
                    )
            with ExitStack() as servers:
                ceiling = servers.enter_context(self.peer("asyncpg", url))
                inkwell = servers.enter_context(self.inkwell(url))
                side_by_side = [(ceiling, "asyncpg", "postgresql"), (inkwell, "inkwell", "postgresql")]
                if sqlite_url is not None:
                    on_sqlite = servers.enter_context(self.inkwell(sqlite_url))
                    side_by_side.append((on_sqlite, "inkwell", "sqlite"))
                self.measure_side_by_side(self.selected(user_scenarios(size)), side_by_side)
                if self.options.soak_seconds:
                    self.soak(inkwell)
            self.run_more_workers(url)
            self.run_with_request_log(url)
            self.run_as_if_pooled(url)
            self.run_traced(url)
            self.run_cached(url, "postgresql")
            self.run_signed_in(url)
            self.run_flood(url)
        replicas.run(self)

    def measure_side_by_side(
        self,
        scenarios: list[Scenario],
        servers: list[tuple[Server, str, str]],
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Each scenario on each server (with its target and database) in turn, all of them started first.

        On a machine shared with other work, the load changes over minutes: a ratio compares figures
        taken seconds apart this way, not one server's whole run against another's. `headers` are sent
        to the servers whose target is `auth`.
        """
        for scenario in scenarios:
            for server, target, database in servers:
                self.measure(
                    server,
                    scenario,
                    target=target,
                    database=database,
                    users=self.options.size.users,
                    headers=headers if target == "auth" else None,
                )

    def measure_layers(self, url: str) -> None:
        """The layers under GET /users/{id}, each timed alone in this process (bench/layers.py)."""
        reads = 300 if self.options.quick else 3000
        user_ids = range(1, self.options.size.users + 1)
        layers = asyncio.run(measure_layers(url, seed.asyncpg_dsn(url), reads=reads, user_ids=user_ids))
        self.results.layers = layers
        for name, figure in layers.items():
            print(f"  layers   postgresql {name:<28} {figure:>7.1f} us CPU per read", flush=True)

    def run_signed_in(self, url: str) -> None:
        """Requests again with sign-in on, as an admin with a bearer token (target `auth`): what each
        request pays for reading the token and checking its session."""
        size = self.options.size
        scenarios = [s for s in self.selected(user_scenarios(size)) if s.name in SIGNED_IN_SCENARIOS]
        if not scenarios:
            return
        # Beside a server with sign-in off (target `open`), each request on one then the other.
        with self.inkwell(url) as open_server, self.inkwell(url, auth=True) as server:
            headers = {"Authorization": f"Bearer {self.admin_token(server, url)}"}
            side_by_side = [(open_server, "open", "postgresql"), (server, "auth", "postgresql")]
            self.measure_side_by_side(scenarios, side_by_side, headers=headers)

    def run_flood(self, url: str) -> None:
        """GET /posts alone on FLOOD_READERS connections, then during each shape of a flood of sign-ups on
        the usual connections, on one server with sign-in on and its limits as shipped (target `flood`)."""
        alone, floods = flood_scenarios()
        floods = [flood for flood in floods if self.selected([flood.reads])]
        if not floods:
            return
        users = self.options.size.users
        with self.inkwell(url, auth=True) as server:
            self.measure(
                server, alone, target="flood", database="postgresql", users=users, connections=FLOOD_READERS
            )
            for flood in floods:
                self.measure_during_flood(server, flood, users)

    def measure_during_flood(self, server: Server, flood: Flood, users: int) -> None:
        """The reads of `flood` measured while its sign-ups run through their warm-up, measurement and a
        second after; then the sign-ups' own figures."""
        seconds = self.options.warmup + self.options.seconds + 1
        load = Load(self.options.threads, self.options.connections, seconds)
        sign_ups = start_wrk(self._wrk_command(server, flood.sign_ups, load))
        try:
            # The server's CPU goes to the sign-ups too: per read, it would say nothing.
            self.measure(
                server,
                flood.reads,
                target="flood",
                database="postgresql",
                users=users,
                connections=FLOOD_READERS,
                per_request_cpu=False,
            )
            result = wait_for_wrk(sign_ups)
        finally:
            if sign_ups.poll() is None:
                sign_ups.kill()
                sign_ups.wait()
        measurement = Measurement.from_wrk(
            result,
            target="flood",
            database="postgresql",
            users=users,
            scenario=flood.sign_ups.name,
            label=flood.sign_ups.label,
            connections=self.options.connections,
        )
        self.results.measurements.append(measurement)
        print(
            f"  {'flood':<8} {'postgresql':<10} {flood.sign_ups.label:<28} "
            f"{measurement.requests_per_second:>9,.0f} req/s, {measurement.errors:,} of "
            f"{result.requests:,} not 201, p50 {measurement.p50_ms:.1f} ms",
            flush=True,
        )

    def admin_token(self, server: Server, database_url: str) -> str:
        """An access token of a new admin, made with `inkwell users create-admin`, then signed in."""
        email, password = f"bench-{next(self.tags)}@example.com", secrets.token_urlsafe(16)
        subprocess.run(  # noqa: S603
            [str(BIN / "inkwell"), "users", "create-admin", "--email", email, "--name", "Bench"],
            env={
                **os.environ,
                **self.server_env(database_url, auth=True),
                "INKWELL_ADMIN_PASSWORD": password,
            },
            check=True,
            capture_output=True,
        )
        form = urllib.parse.urlencode({"username": email, "password": password}).encode()
        with urllib.request.urlopen(f"{server.url}/auth/token", data=form, timeout=30) as response:  # noqa: S310
            return str(json.load(response)["access_token"])

    def run_cached(self, url: str, database: str) -> None:
        """The cached reads again, on a server with Redis (target `cached`), to compare with `inkwell`."""
        scenarios = self.selected(cached_scenarios(self.options.size))
        if not scenarios or not self.redis_answers():
            return
        try:
            with self.inkwell(url, redis=True) as server:
                for scenario in scenarios:
                    self.measure(
                        server, scenario, target="cached", database=database, users=self.options.size.users
                    )
        finally:
            self.delete_redis_keys()

    def redis_answers(self) -> bool:
        if not self.options.redis_url:
            return False
        try:
            with redis.Redis.from_url(self.options.redis_url, socket_connect_timeout=1) as client:
                client.ping()
        except redis.RedisError as exc:
            print(f"  no Redis at {self.options.redis_url} ({exc}): the cached reads are skipped", flush=True)
            return False
        return True

    def delete_redis_keys(self) -> None:
        with redis.Redis.from_url(self.options.redis_url) as client:
            keys = list(client.scan_iter(match=f"*{self.redis_prefix}*", count=1000))
            if keys:
                client.delete(*keys)

    def run_with_request_log(self, url: str) -> None:
        """GET /users/{id} with the log level at "info", where each request writes a JSON line."""
        scenario = replace(
            ceiling_scenario(self.options.size),
            name="get_user_request_log",
            label="GET /users/{id} (request log)",
        )
        for selected in self.selected([scenario]):
            with self.inkwell(url, log_level="info") as server:
                self.measure(
                    server, selected, target="inkwell", database="postgresql", users=self.options.size.users
                )

    def run_as_if_pooled(self, url: str) -> None:
        """GET /users/{id} with INKWELL_DB_POOLER=transaction, straight on the same PostgreSQL: what the
        setting costs (no statement cache) apart from whatever the pooler adds."""
        scenario = replace(
            ceiling_scenario(self.options.size),
            name="get_user_pooler",
            label="GET /users/{id} (pooler)",
        )
        for selected in self.selected([scenario]):
            with self.inkwell(url, settings={"INKWELL_DB_POOLER": "transaction"}) as server:
                self.measure(
                    server, selected, target="inkwell", database="postgresql", users=self.options.size.users
                )

    def run_traced(self, url: str) -> None:
        """GET /users/{id} with tracing off (no OTEL variable: the default) and then on, every request
        sampled and its spans sent over OTLP/HTTP to a stand-in collector in this process (target
        `tracing`): what tracing costs a request, and that it costs nothing off."""
        off, on = traced_scenarios(self.options.size)
        if not self.selected([off, on]):
            return
        users = self.options.size.users
        with otlp_sink() as (endpoint, received):
            traced = {
                "OTEL_SDK_DISABLED": "false",
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_TRACES_SAMPLER": "always_on",
            }
            # Side by side, one after the other, as the servers of `measure_side_by_side`.
            with self.inkwell(url) as untraced, self.inkwell(url, settings=traced) as server:
                self.measure(untraced, off, target="tracing", database="postgresql", users=users)
                self.measure(server, on, target="tracing", database="postgresql", users=users)
        # Spans that never left the server would make the figure a measure of nothing.
        if not received.exports:
            raise RuntimeError("the traced server exported no span to the stand-in collector")
        print(f"  tracing  exported {received.exports} batches, {received.bytes:,} bytes", flush=True)

    def run_more_workers(self, url: str) -> None:
        """GET /users/{id} again with a worker process per core (`inkwell serve --workers N`)."""
        workers = os.cpu_count() or 1
        if self.options.quick or workers <= self.options.workers:
            return
        scenario = replace(
            ceiling_scenario(self.options.size),
            name=f"get_user_{workers}_workers",
            label=f"GET /users/{{id}} ({workers} workers)",
        )
        for selected in self.selected([scenario]):
            with self.inkwell(url, workers=workers) as server:
                self.measure(
                    server, selected, target="inkwell", database="postgresql", users=self.options.size.users
                )

    def seeded_sqlite(self) -> str:
        size = self.options.size
        path = self.workdir / "bench.db"
        print(f"SQLite: seeding {size.users:,} users and {size.posts:,} posts", flush=True)
        url = seed.sqlite_url(path)
        seed.migrate(url)
        seed.seed_sqlite(url, size)
        return url

    def run_sqlite(self, url: str, *, requests_measured: bool = False) -> None:
        """The requests on SQLite, unless `run_postgresql` measured them beside PostgreSQL's; then 64
        concurrent writers and the cached reads."""
        size = self.options.size
        with self.inkwell(url) as server:
            if not requests_measured:
                for scenario in self.selected(user_scenarios(size)):
                    self.measure(server, scenario, target="inkwell", database="sqlite", users=size.users)
            writers = replace(
                user_scenarios(size)[5],
                name="concurrent_writers",
                label=f"POST /users ({self.options.writers} writers)",
            )
            for scenario in self.selected([writers]):
                connections = self.options.writers
                self.measure(
                    server,
                    scenario,
                    target="inkwell",
                    database="sqlite",
                    users=size.users,
                    connections=connections,
                )
        self.run_cached(url, "sqlite")

    def run_growth(self, size: Size) -> None:
        with self.postgresql_database("inkwell_bench_growth", size) as url, self.inkwell(url) as server:
            for scenario in self.selected(growth_scenarios(size)):
                self.measure(server, scenario, target="inkwell", database="postgresql", users=size.users)

    def soak(self, server: Server) -> None:
        """Mixed load for `soak_seconds`, sampling the server's resident memory every second."""
        scenario = mixed_scenario(self.options.size)
        self._drive(
            server, scenario, Load(self.options.threads, self.options.connections, self.options.warmup)
        )
        seconds = self.options.soak_seconds
        print(f"  soak: {seconds:g} s of mixed load, sampling resident memory", flush=True)
        with MemorySampler(server.process.pid) as sampler:
            result = self._drive(
                server, scenario, Load(self.options.threads, self.options.connections, seconds)
            )
        self.results.memory = {
            "seconds": seconds,
            "requests": result.requests,
            "errors": result.error_count,
            "samples": sampler.samples,
        }

    @contextmanager
    def postgresql_database(self, prefix: str, size: Size) -> Iterator[str]:
        """A new PostgreSQL database seeded with `size`, dropped afterwards."""

        def seeded(url: str) -> None:
            into = make_url(url).database
            print(
                f"PostgreSQL: seeding {size.users:,} users and {size.posts:,} posts into {into}", flush=True
            )
            started = time.monotonic()
            asyncio.run(seed.seed_postgresql(url, size))
            print(f"  seeded in {time.monotonic() - started:.1f} s", flush=True)

        with self.new_postgresql_database(prefix, seeded) as url:
            yield url

    @contextmanager
    def new_postgresql_database(self, prefix: str, fill: Callable[[str], None]) -> Iterator[str]:
        """A new PostgreSQL database (`prefix` and this process's id) on the benchmark's server, migrated
        and filled by `fill`, dropped afterwards."""
        server_url = self.options.postgresql_url
        name = f"{prefix}_{os.getpid()}"
        url = asyncio.run(seed.create_postgresql_database(server_url, name))
        try:
            seed.migrate(url)
            fill(url)
            yield url
        finally:
            asyncio.run(seed.drop_postgresql_database(server_url, name))

    def run(self) -> Results:
        try:
            databases = self.options.databases
            sqlite_url = self.seeded_sqlite() if "sqlite" in databases and not self.options.search else None
            if self.options.search:
                search.run(self)
            elif "postgresql" in databases:
                self.run_postgresql(sqlite_url)
            if sqlite_url is not None:
                self.run_sqlite(sqlite_url, requests_measured="postgresql" in databases)
            if self.options.growth is not None and not self.options.search:
                self.run_growth(self.options.growth)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
        report.add_ratios(self.results)
        report.evaluate(self.results)
        return self.results


def settings(options: Options) -> dict[str, Any]:
    if options.search:
        return {
            "mode": "search" + (", quick" if options.quick else ""),
            "search_rows": options.search_rows,
            "search_small_rows": search.SMALL_ROWS,
            "search_databases": list(options.search_databases),
            "seconds": options.seconds,
            "connections": options.connections,
            "wrk_threads": options.threads,
            "pool_size": options.pool_size,
            "workers": options.workers,
        }
    return {
        "mode": "quick" if options.quick else "full",
        "users": options.size.users,
        "posts": options.size.posts,
        "growth_users": options.growth.users if options.growth else None,
        "growth_posts": options.growth.posts if options.growth else None,
        "seconds": options.seconds,
        "connections": options.connections,
        "writers": options.writers,
        "wrk_threads": options.threads,
        "pool_size": options.pool_size,
        "workers": options.workers,
        "auth": "off, and on for the `auth` and `flood` targets",
    }


def machine(options: Options) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": asyncio.run(_postgresql_version(options.postgresql_url))
        if "postgresql" in options.databases
        else None,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


async def _postgresql_version(server_url: str) -> str:
    connection = await asyncpg.connect(seed.asyncpg_dsn(server_url))
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def save(results: Results, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = [directory / f"bench-{stamp}.json", directory / "latest.json", directory / "latest.png"]
    for path in paths[:2]:
        report.write_json(results, path)
    report.draw_chart(results, paths[2])
    return paths


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        wrk = find_wrk()
    except WrkMissing as missing:
        print(f"make bench: {missing}", file=sys.stderr)
        return 2
    mode = ("search, " if options.search else "") + ("quick" if options.quick else "full")
    databases = options.search_databases if options.search else options.databases
    print(f"Benchmark ({mode}): {', '.join(databases)}", flush=True)
    results = Bench(options, wrk).run()
    print()
    print(report.table(results))
    for path in save(results, options.results_dir):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0
