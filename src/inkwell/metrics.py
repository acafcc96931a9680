"""Prometheus metrics (the official prometheus_client): requests, latency and the database pool.

In one process each app has a registry of its own, so that several apps in one process (the tests) never
share counts. With several worker processes (`inkwell serve --workers N`) every worker writes its metrics
to files in one directory, and a scrape, whichever worker answers it, adds up the files of them all.
"""

import hmac
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from pydantic import SecretStr
from sqlalchemy.pool import Pool, QueuePool

from inkwell.errors import NotAuthenticated

if TYPE_CHECKING:
    from inkwell.replicas import Replicas

# Request latency from a millisecond (a cached read) to ten seconds (a request waiting on a lock).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Request counts by method, route template and status, and latency by method and route."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "inkwell_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "inkwell_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # The labelled children, looked up once per label set: `labels()` takes a lock on every call.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.replicas: ReplicaMetrics | None = None

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class ReplicaMetrics:
    """Where the reads that may be slightly old went (a replica or the primary) and why, and each
    replica's lag and health: counted by the replicas as they route, without a metric update per request,
    and shown here at each of their checks (`INKWELL_DB_REPLICA_CHECK_INTERVAL`)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.reads = Counter(
            "inkwell_db_reads",
            "Reads of the routes that may read from a replica, by where they went (`replica`, `primary`) "
            "and why.",
            ["target", "reason"],
            registry=registry,
        )
        self.lag = Gauge(
            "inkwell_db_replica_lag_seconds",
            "How far each replica is behind the primary, at its last check (+Inf: unknown).",
            ["replica"],
            multiprocess_mode="livemax",
            registry=registry,
        )
        self.healthy = Gauge(
            "inkwell_db_replica_healthy",
            "1 while reads may go to the replica, 0 while it is down or lagging past the limit.",
            ["replica"],
            multiprocess_mode="livemin",
            registry=registry,
        )
        self._published: dict[tuple[str, str], int] = {}

    def publish(self, replicas: "Replicas") -> None:
        for (target, reason), count in list(replicas.reads.items()):
            added = count - self._published.get((target, reason), 0)
            if added:
                self.reads.labels(target, reason).inc(added)
                self._published[target, reason] = count
        for replica in replicas.all:
            self.lag.labels(replica.name).set(replica.lag)
            self.healthy.labels(replica.name).set(1 if replica.state == "ok" else 0)


PoolOf = Callable[[], Pool | None]
"""The app's database pool, None before start-up (the metrics are installed before the pool opens)."""


class PoolCollector(Collector):
    """The database pool's connections, read when Prometheus scrapes (nothing is counted per request)."""

    def __init__(self, pool_of: PoolOf) -> None:
        self.pool_of = pool_of

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration; the pool does not exist until start-up

    def collect(self) -> Iterator[Metric]:
        pool = self.pool_of()
        if not isinstance(pool, QueuePool):
            return
        connections = GaugeMetricFamily(
            "inkwell_db_pool_connections",
            "Database connections held by the pool, by state.",
            labels=["state"],
        )
        connections.add_metric(["in_use"], pool.checkedout())
        connections.add_metric(["idle"], pool.checkedin())
        yield connections
        yield GaugeMetricFamily("inkwell_db_pool_size", "Connections the pool keeps open.", value=pool.size())
        yield GaugeMetricFamily(
            "inkwell_db_pool_overflow",
            "Connections open beyond the pool size (negative: pool slots not yet opened).",
            value=pool.overflow(),
        )


class SharedHttpMetrics(HttpMetrics):
    """Requests and latency, and this worker's pool, written where every worker's are added up.

    A scrape reaches one worker, which cannot read the others' pools: each worker writes its own after
    every request (the figures when it ends), and a scrape adds up those of the live workers.
    """

    def __init__(self, pool_of: PoolOf) -> None:
        super().__init__(registry=None)
        self.pool_of = pool_of
        self.connections = Gauge(
            "inkwell_db_pool_connections",
            "Database connections held by the pools of the live workers, by state.",
            ["state"],
            multiprocess_mode="livesum",
            registry=None,
        )
        self.in_use = self.connections.labels("in_use")
        self.idle = self.connections.labels("idle")
        self.size = Gauge(
            "inkwell_db_pool_size",
            "Connections the pools of the live workers keep open.",
            multiprocess_mode="livesum",
            registry=None,
        )
        self.overflow = Gauge(
            "inkwell_db_pool_overflow",
            "Connections open beyond the pool sizes (negative: pool slots not yet opened).",
            multiprocess_mode="livesum",
            registry=None,
        )
        self.pool_gauges = (self.in_use, self.idle, self.size, self.overflow)
        self.pool_figures = (0, 0, 0, 0)  # what the files hold until the first request ends

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        super().observe(method, route, status, seconds)
        pool = self.pool_of()
        if not isinstance(pool, QueuePool):
            return
        # Each write to the files costs a lock and a copy: only the figures that changed are written.
        figures = (pool.checkedout(), pool.checkedin(), pool.size(), pool.overflow())
        for gauge, figure, last in zip(self.pool_gauges, figures, self.pool_figures, strict=True):
            if figure != last:
                gauge.set(figure)
        self.pool_figures = figures


class SharedCollector(Collector):
    """Every worker's metrics from the shared directory, and each live worker's process_* by its pid.

    prometheus_client does not add up process metrics (a sum of start times means nothing): the worker
    answering the scrape reads each live worker's from /proc, labelled with the worker's pid.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        # prometheus_client's multiprocess module has no annotations.
        self.files = MultiProcessCollector(registry=None, path=str(path))  # type: ignore[no-untyped-call]
        self.processes: dict[int, ProcessCollector] = {}

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        pids = self._live_workers()
        yield from self.files.collect()  # type: ignore[no-untyped-call]
        yield from self._processes(pids)

    def _live_workers(self) -> list[int]:
        """The pids of the workers writing live gauges; those of workers gone are forgotten first, so that
        a worker that exited (or was killed and replaced) no longer counts in the pool's figures."""
        live = []
        for file in self.path.glob("gauge_live*_*.db"):
            number = file.stem.rpartition("_")[2]
            if not number.isdigit():
                continue
            pid = int(number)
            if _is_running(pid):
                live.append(pid)
            else:
                mark_process_dead(pid, str(self.path))  # type: ignore[no-untyped-call]
                self.processes.pop(pid, None)
        return sorted(set(live))

    def _processes(self, pids: list[int]) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for pid in pids:
            collector = self.processes.get(pid)
            if collector is None:
                collector = self.processes[pid] = _process_collector(pid)
            for family in collector.collect():
                merged = families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    merged.add_sample(sample.name, {**sample.labels, "pid": str(pid)}, sample.value)
        yield from families.values()


def _process_collector(pid: int) -> ProcessCollector:
    return ProcessCollector(pid=lambda: pid, registry=None)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def install_metrics(
    app: FastAPI,
    *,
    pool_of: PoolOf,
    token: SecretStr | None = None,
    shared_dir: Path | None = None,
    replicas: bool = False,
) -> HttpMetrics:
    """Serve /metrics; the request middleware records into what this returns, and `pool_of()` is the
    database pool whose connections it reports. With `replicas`, its `replicas` shows the read replicas.

    Without `shared_dir`, from a registry of the app's own. With it, from the files every worker of the
    server writes there (prometheus_client's multiprocess mode: PROMETHEUS_MULTIPROC_DIR must name the
    same directory before prometheus_client is imported, as `inkwell serve` arranges).
    With a `token`, only a scraper sending `Authorization: Bearer <token>` gets them; others get a 401.
    """
    registry = CollectorRegistry()
    http: HttpMetrics
    if shared_dir is None:
        ProcessCollector(registry=registry)
        registry.register(PoolCollector(pool_of))
        http = HttpMetrics(registry)
    else:
        registry.register(SharedCollector(shared_dir))
        http = SharedHttpMetrics(pool_of)
    if replicas:
        http.replicas = ReplicaMetrics(registry if shared_dir is None else None)
    expected = None if token is None else token.get_secret_value().encode()

    async def metrics(request: Request) -> Response:
        if expected is not None and not _bearer_matches(request, expected):
            raise NotAuthenticated
        # The format the scraper asks for: Prometheus text, or OpenMetrics.
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), headers={"content-type": content_type})

    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    return http


def _bearer_matches(request: Request, token: bytes) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    # compare_digest takes as long however much of a guess is right, so timing gives nothing away.
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode("latin-1"), token)
