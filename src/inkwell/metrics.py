"""Prometheus metrics (the official prometheus_client): requests, latency and the database pool.

Each app has a registry of its own, so that several apps in one process (the tests) never share counts.
"""

import hmac
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from pydantic import SecretStr
from sqlalchemy.pool import QueuePool

from inkwell.errors import NotAuthenticated

# Request latency from a millisecond (a cached read) to ten seconds (a request waiting on a lock).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Request counts by method, route template and status, and latency by method and route."""

    def __init__(self, registry: CollectorRegistry) -> None:
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

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class PoolCollector(Collector):
    """The database pool's connections, read when Prometheus scrapes (nothing is counted per request)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration; the pool does not exist until start-up

    def collect(self) -> Iterator[Metric]:
        pool = getattr(getattr(self.app.state, "engine", None), "pool", None)
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


def install_metrics(app: FastAPI, *, token: SecretStr | None = None) -> HttpMetrics:
    """Serve /metrics from a registry of the app's own; the request middleware records into it.

    With a `token`, only a scraper sending `Authorization: Bearer <token>` gets them; others get a 401.
    """
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    registry.register(PoolCollector(app))
    http = HttpMetrics(registry)
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
