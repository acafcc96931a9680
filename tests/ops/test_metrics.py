"""/metrics: Prometheus text with requests by route template, latency, and the database pool."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from inkwell.config import Settings
from inkwell.main import create_app
from tests.apps import asgi_client


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


METRICS_TOKEN = "9d4f0b6e2c8a41f7b3e5d1c0a6f8e2b4-scraper"


@pytest.fixture
async def guarded(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose /metrics asks for a token."""
    app = create_app(settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)}))
    async with asgi_client(app) as client:
        yield client


WRONG_AUTHORIZATIONS = [
    "",
    "Bearer",
    f"Bearer {METRICS_TOKEN}x",
    f"Bearer {METRICS_TOKEN[:-1]}",
    f"Basic {METRICS_TOKEN}",
]


@pytest.mark.parametrize("authorization", [None, *WRONG_AUTHORIZATIONS])
async def test_with_a_token_set_metrics_need_it(
    guarded: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = await guarded.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "Not authenticated"}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
async def test_with_a_token_set_the_scraper_sending_it_gets_the_metrics(
    guarded: httpx.AsyncClient, scheme: str
) -> None:
    response = await guarded.get("/metrics", headers={"Authorization": f"{scheme} {METRICS_TOKEN}"})

    assert response.status_code == 200
    assert "inkwell_http_requests_total" in response.text


async def test_without_a_token_metrics_are_open(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 200


def test_the_token_comes_from_inkwell_metrics_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKWELL_METRICS_TOKEN", METRICS_TOKEN)
    token = Settings(_env_file=None).metrics_token
    monkeypatch.setenv("INKWELL_METRICS_TOKEN", "")
    unset = Settings(_env_file=None).metrics_token

    assert token is not None
    assert token.get_secret_value() == METRICS_TOKEN
    assert unset is None


def test_a_short_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INKWELL_METRICS_TOKEN", "s3cr3t")

    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(_env_file=None)
