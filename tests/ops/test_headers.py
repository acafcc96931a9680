"""Security headers on every response, a CSP that still lets the docs run, and CORS by origin list."""

import base64
import hashlib
import re

import httpx
import pytest
from fastapi import FastAPI

from inkwell.config import Settings
from inkwell.main import create_app
from tests.accounts import Account

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def assert_secured(response: httpx.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, name
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[-1].split(";")[0]


@pytest.mark.parametrize(("method", "path"), [("GET", "/users"), ("GET", "/nowhere"), ("DELETE", "/users")])
async def test_api_responses_carry_the_headers(
    client: httpx.AsyncClient, account: Account, method: str, path: str
) -> None:
    response = await client.request(method, path, headers=account.headers)

    assert_secured(response)
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


async def test_a_request_without_a_token_is_refused_with_them(client: httpx.AsyncClient) -> None:
    response = await client.get("/users")

    assert response.status_code == 401
    assert_secured(response)


async def test_a_server_error_carries_them_too(app: FastAPI) -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/broken", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkwell.test") as client:
        response = await client.get("/broken")

    assert response.status_code == 500
    assert_secured(response)
    assert len(response.headers["x-request-id"]) == 32


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_doc_pages_allow_exactly_their_own_inline_scripts(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)

    assert_secured(response)
    policy = response.headers["content-security-policy"]
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert policy.count("'sha256-") == len(inline)
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy


async def test_cors_is_off_by_default(client: httpx.AsyncClient, account: Account) -> None:
    simple = await client.get("/users", headers={"Origin": "https://app.example.com", **account.headers})
    preflight = await client.options(
        "/users",
        headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
    )

    assert "access-control-allow-origin" not in simple.headers
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_allows_the_listed_origins_only(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INKWELL_CORS_ORIGINS", "https://app.example.com, https://admin.example.com/")
    origins = Settings(_env_file=None).cors_origins
    app = create_app(settings.model_copy(update={"cors_origins": origins}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://inkwell.test") as c:
        allowed = await c.options(
            "/users",
            headers={"Origin": "https://admin.example.com", "Access-Control-Request-Method": "POST"},
        )
        refused = await c.options(
            "/users",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        )

    assert origins == ["https://app.example.com", "https://admin.example.com"]
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://admin.example.com"
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
