"""/docs and /redoc load every asset from Inkwell itself, so they work with no internet."""

import re
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.security import OAuth2PasswordBearer

from inkwell.config import Settings
from inkwell.pagination import PageDep
from tests.apps import asgi_client

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_use_only_local_assets(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    urls = [a or b for a, b in ASSET.findall(response.text)]
    assert urls, "the page names no assets"
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from elsewhere"
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url


OPEN_PATHS = {
    "/users",
    "/users/{user_id}",
    "/users/{user_id}/posts",
    "/posts",
    "/posts/{post_id}",
    "/healthz",
    "/readyz",
}
SIGN_IN_PATHS = {
    "/auth/token",
    "/auth/refresh",
    "/auth/logout",
    "/auth/verify/request",
    "/auth/verify",
    "/auth/forgot-password",
    "/auth/reset-password",
    "/auth/confirm-email",
    "/users/me",
    "/users/me/password",
}


async def test_openapi_document_lists_every_route(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert set(paths) == OPEN_PATHS | SIGN_IN_PATHS
    assert set(paths["/users/{user_id}"]) == {"get", "patch", "delete"}
    assert "409" in paths["/users"]["post"]["responses"]


async def test_with_sign_in_off_the_openapi_document_lists_the_tutorials_routes(
    open_client: httpx.AsyncClient,
) -> None:
    paths = (await open_client.get("/openapi.json")).json()["paths"]

    assert set(paths) == OPEN_PATHS
    assert set(paths["/users/{user_id}"]) == {"get", "patch", "delete"}
    assert "409" in paths["/users"]["post"]["responses"]


async def test_every_operation_documents_its_error_statuses(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    users, user, posts = paths["/users"], paths["/users/{user_id}"], paths["/users/{user_id}/posts"]
    post = paths["/posts/{post_id}"]

    for operation in (users["post"], users["get"], user["get"], user["patch"], user["delete"], post["get"]):
        assert {"422", "503"} <= set(operation["responses"])
    for operation in (user["get"], post["get"]):
        assert "304" in operation["responses"]
        assert "ETag" in operation["responses"]["200"]["headers"]
    for operation in (user["patch"], user["delete"], post["patch"], post["delete"]):
        assert "412" in operation["responses"]
    for operation in (users["post"], posts["post"], user["patch"], post["patch"]):
        assert {"400", "413"} <= set(operation["responses"])
    assert "Retry-After" in users["get"]["responses"]["503"]["headers"]


async def test_optional_headers_are_documented_as_strings(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    headers = {
        (parameter["name"], parameter["schema"].get("type"))
        for path in paths.values()
        for operation in path.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header"
    }

    assert headers == {("If-Match", "string"), ("If-None-Match", "string"), ("Idempotency-Key", "string")}


async def test_links_lead_from_created_records_to_what_uses_them(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    links = paths["/users"]["post"]["responses"]["201"]["links"]

    assert links["UpdateUser"] == {
        "operationRef": "#/paths/~1users~1{user_id}/patch",
        "parameters": {"user_id": "$response.body#/id", "header.If-Match": "$response.header.ETag"},
    }
    assert set(paths["/users/{user_id}/posts"]["post"]["responses"]["201"]["links"]) == {
        "ReadPost",
        "UpdatePost",
        "DeletePost",
        "ReadAuthor",
    }


async def test_a_route_added_after_the_document_was_built_is_documented_by_the_same_settings(
    open_app: FastAPI, open_settings: Settings
) -> None:
    async def later(
        _page: PageDep, _token: Annotated[str | None, Depends(OAuth2PasswordBearer("t"))]
    ) -> None:
        """A route added once the document was served."""

    async with asgi_client(open_app) as client:
        before = (await client.get("/openapi.json")).json()
        open_app.add_api_route("/later", later)
        after = (await client.get("/openapi.json")).json()

    assert "/later" not in before["paths"]
    [offset] = [p for p in after["paths"]["/later"]["get"]["parameters"] if p["name"] == "offset"]
    assert offset["schema"]["maximum"] == open_settings.max_offset
    # Sign-in is off: no token is asked for, on the new route either.
    assert "security" not in after["paths"]["/later"]["get"]
    assert "securitySchemes" not in after.get("components", {})
