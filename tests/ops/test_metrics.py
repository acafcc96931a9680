"""/metrics: Prometheus text with requests by route template, latency, and the database pool."""

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from inkwell.config import Settings
from inkwell.main import create_app


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, keyed by name and labels."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


async def test_requests_are_counted_by_route_template_method_and_status(client: httpx.AsyncClient) -> None:
    user = (await client.post("/users", json={"email": "m@example.com", "name": "M"})).json()
    await client.get(f"/users/{user['id']}")
    await client.get(f"/users/{user['id'] + 1000}")
    await client.get("/no/such/route")

    samples = await scrape(client)

    requests = "inkwell_http_requests_total"
    assert samples[(requests, labels(method="POST", route="/users", status="201"))] == 1
    assert samples[(requests, labels(method="GET", route="/users/{user_id}", status="200"))] == 1
    assert samples[(requests, labels(method="GET", route="/users/{user_id}", status="404"))] == 1
    assert samples[(requests, labels(method="GET", route="<unmatched>", status="404"))] == 1
    # No label carries a concrete id or path.
    assert not any(str(user["id"]) in dict(lbl).get("route", "") for _, lbl in samples)


async def test_latency_is_a_histogram_by_method_and_route(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get("/users")

    samples = await scrape(client)

    route = {"method": "GET", "route": "/users"}
    assert samples[("inkwell_http_request_duration_seconds_count", labels(**route))] == 3
    assert samples[("inkwell_http_request_duration_seconds_bucket", labels(**route, le="+Inf"))] == 3
    assert samples[("inkwell_http_request_duration_seconds_sum", labels(**route))] > 0


async def test_unknown_methods_share_one_label(client: httpx.AsyncClient) -> None:
    await client.request("BREW", "/users")

    samples = await scrape(client)

    assert samples[("inkwell_http_requests_total", labels(method="OTHER", route="/users", status="405"))] == 1


async def test_plain_routes_and_mounts_are_labelled_by_template(client: httpx.AsyncClient) -> None:
    await client.get("/openapi.json")
    await client.get("/static-offline-docs/nothing-here.js")

    samples = await scrape(client)

    requests = "inkwell_http_requests_total"
    assert samples[(requests, labels(method="GET", route="/openapi.json", status="200"))] == 1
    mount = "/static-offline-docs/{path}"
    assert samples[(requests, labels(method="GET", route=mount, status="404"))] == 1


async def test_database_pool_use_is_reported(
    app: FastAPI, client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    app.state.engine = engine  # what the lifespan sets in a running server
    async with engine.connect():
        samples = await scrape(client)

    assert samples[("inkwell_db_pool_connections", labels(state="in_use"))] >= 1
    assert ("inkwell_db_pool_connections", labels(state="idle")) in samples
    assert samples[("inkwell_db_pool_size", labels())] == app.state.settings.db_pool_size


async def test_the_pool_is_left_out_before_start_up(client: httpx.AsyncClient) -> None:
    samples = await scrape(client)

    assert not any(name.startswith("inkwell_db_pool") for name, _ in samples)


async def test_metrics_can_be_turned_off(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"metrics": False}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inkwell.test") as c:
        response = await c.get("/metrics")

    assert response.status_code == 404


def test_the_setting_comes_from_inkwell_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKWELL_METRICS", "false")

    assert Settings(_env_file=None).metrics is False
