"""/metrics: Prometheus text with requests by route template, latency, and the database pool."""

import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.main import create_app
from tests.accounts import SIGNED_IN_ENV, Account
from tests.apps import app_on, asgi_client
from tests.commands import run_here
from tests.processes import serving

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    """Every sample of /metrics, keyed by name and labels."""
    return samples_of(await client.get("/metrics"))


def samples_of(response: httpx.Response) -> Samples:
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


async def test_requests_are_counted_by_route_template_method_and_status(
    client: httpx.AsyncClient, account: Account
) -> None:
    # The account was signed up (POST /users) and signed in (POST /auth/token).
    await client.get(f"/users/{account.id}", headers=account.headers)
    await client.get(f"/users/{account.id + 1000}", headers=account.headers)
    await client.get("/no/such/route")

    samples = await scrape(client)

    requests = "inkwell_http_requests_total"
    assert samples[(requests, labels(method="POST", route="/users", status="201"))] == 1
    assert samples[(requests, labels(method="POST", route="/auth/token", status="200"))] == 1
    assert samples[(requests, labels(method="GET", route="/users/{user_id}", status="200"))] == 1
    assert samples[(requests, labels(method="GET", route="/users/{user_id}", status="404"))] == 1
    assert samples[(requests, labels(method="GET", route="<unmatched>", status="404"))] == 1
    # No label carries a concrete id or path.
    assert not any(str(account.id) in dict(lbl).get("route", "") for _, lbl in samples)


async def test_latency_is_a_histogram_by_method_and_route(
    client: httpx.AsyncClient, account: Account
) -> None:
    for _ in range(3):
        await client.get("/users", headers=account.headers)

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


async def test_database_pool_use_is_reported(settings: Settings, engine: AsyncEngine) -> None:
    app = app_on(settings, Database(engine))  # the app's requests on the engine's pool, as in a server
    async with asgi_client(app) as client, engine.connect():
        samples = await scrape(client)

    assert samples[("inkwell_db_pool_connections", labels(state="in_use"))] >= 1
    assert ("inkwell_db_pool_connections", labels(state="idle")) in samples
    assert samples[("inkwell_db_pool_size", labels())] == settings.db_pool_size


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


# With several worker processes: a real `inkwell serve --workers 2`, whichever worker answers a scrape.

POOL_SIZE = 4
POSTS = labels(method="GET", route="/posts", status="200")
POSTS_LATENCY = labels(method="GET", route="/posts")


@pytest.fixture
def workers_env(tmp_path: Path) -> dict[str, str]:
    """A migrated SQLite file; no metrics directory named (each test names its own, or none)."""
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if k not in ("INKWELL_METRICS_DIR", "PROMETHEUS_MULTIPROC_DIR")
        },
        "DATABASE_URL": f"sqlite:///{tmp_path}/serve.db",
        "INKWELL_DB_POOL_SIZE": str(POOL_SIZE),
        "INKWELL_LOG_LEVEL": "warning",  # a line per request would fill the pipe the log goes to
        **SIGNED_IN_ENV,
    }
    upgraded = run_here(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return env


def scrape_server(url: str) -> Samples:
    return samples_of(httpx.get(f"{url}/metrics", timeout=10))


def worker_pids(samples: Samples) -> set[str]:
    return {dict(lbl)["pid"] for name, lbl in samples if name == "process_start_time_seconds"}


def wait_for_workers(url: str, count: int) -> None:
    """Until every worker has started (a scrape names each live one by its pid)."""
    for _ in range(600):
        if len(worker_pids(scrape_server(url))) == count:
            return
        time.sleep(0.1)
    pytest.fail(f"{count} workers did not start")


def get_posts(url: str, count: int) -> None:
    """`count` requests, eight at a time, each on a connection of its own: the workers share the listening
    socket, and each takes some of the connections."""
    with (
        httpx.Client(base_url=url, headers={"Connection": "close"}, timeout=30) as client,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        statuses = list(pool.map(lambda _: client.get("/posts").status_code, range(count)))
    assert statuses == [200] * count


def requests_by_worker(directory: Path, scratch: Path) -> dict[str, float]:
    """GET /posts requests each worker counted, read from its own file in the metrics directory."""
    counts = {}
    for file in directory.glob("counter_*.db"):
        alone = scratch / file.stem
        alone.mkdir()
        shutil.copy(file, alone)
        for family in MultiProcessCollector(registry=None, path=str(alone)).collect():  # type: ignore[no-untyped-call]
            for sample in family.samples:
                if sample.name == "inkwell_http_requests_total" and sample.labels.get("route") == "/posts":
                    counts[file.stem.removeprefix("counter_")] = sample.value
    return counts


@pytest.mark.slow
def test_with_several_workers_every_scrape_counts_every_request(
    workers_env: dict[str, str], tmp_path: Path
) -> None:
    directory = tmp_path / "metrics"
    env = {**workers_env, "INKWELL_METRICS_DIR": str(directory)}
    with serving(env, tmp_path, "--workers", "2") as server:
        wait_for_workers(server.url, 2)
        get_posts(server.url, 300)
        scrapes = [scrape_server(server.url) for _ in range(6)]
        by_worker = requests_by_worker(directory, tmp_path)

    assert len(by_worker) == 2, by_worker  # both workers took some
    assert sum(by_worker.values()) == 300
    for samples in scrapes:
        assert samples[("inkwell_http_requests_total", POSTS)] == 300
        assert samples[("inkwell_http_request_duration_seconds_count", POSTS_LATENCY)] == 300
        assert (
            samples[("inkwell_http_request_duration_seconds_bucket", POSTS_LATENCY | labels(le="+Inf"))]
            == 300
        )
        assert len(worker_pids(samples)) == 2
        # The pools of both workers, added up.
        size = samples[("inkwell_db_pool_size", labels())]
        in_use = samples[("inkwell_db_pool_connections", labels(state="in_use"))]
        idle = samples[("inkwell_db_pool_connections", labels(state="idle"))]
        assert size == 2 * POOL_SIZE
        assert 2 <= in_use + idle <= size  # each worker opened one at least
        assert samples[("inkwell_db_pool_overflow", labels())] == in_use + idle - size


@pytest.mark.slow
def test_a_restarted_server_does_not_count_the_last_runs_requests(
    workers_env: dict[str, str], tmp_path: Path
) -> None:
    directory = tmp_path / "metrics"
    env = {**workers_env, "PROMETHEUS_MULTIPROC_DIR": str(directory)}  # the standard variable works too
    with serving(env, tmp_path, "--workers", "2") as first:
        wait_for_workers(first.url, 2)
        get_posts(first.url, 40)
    assert list(directory.glob("counter_*.db"))  # the last run's files are still there

    with serving(env, tmp_path, "--workers", "2") as second:
        wait_for_workers(second.url, 2)
        get_posts(second.url, 25)
        scrapes = [scrape_server(second.url) for _ in range(4)]

    assert [samples[("inkwell_http_requests_total", POSTS)] for samples in scrapes] == [25] * 4


@pytest.mark.slow
def test_a_killed_worker_keeps_its_counts_but_leaves_the_pool_figures(
    workers_env: dict[str, str], tmp_path: Path
) -> None:
    # No directory named: serve makes one of its own.
    with serving(workers_env, tmp_path, "--workers", "2") as server:
        wait_for_workers(server.url, 2)
        get_posts(server.url, 60)
        before = worker_pids(scrape_server(server.url))
        os.kill(int(min(before)), signal.SIGKILL)  # uvicorn starts another in its place
        for _ in range(600):
            pids = worker_pids(scrape_server(server.url))
            if len(pids) == 2 and pids != before:
                break
            time.sleep(0.1)
        get_posts(server.url, 40)
        samples = scrape_server(server.url)
        assert server.stop() == 0, server.stderr

    assert "Traceback" not in server.stderr
    assert min(before) not in worker_pids(samples)
    assert samples[("inkwell_http_requests_total", POSTS)] == 100
    assert samples[("inkwell_db_pool_size", labels())] == 2 * POOL_SIZE
