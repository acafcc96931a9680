"""/docs and /redoc load every asset from Inkwell itself, so they work with no internet."""

import re

import httpx
import pytest

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


async def test_openapi_document_lists_every_route(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert set(paths) == {
        "/users",
        "/users/{user_id}",
        "/users/{user_id}/posts",
        "/posts",
        "/posts/{post_id}",
        "/healthz",
        "/readyz",
    }
    assert set(paths["/users/{user_id}"]) == {"get", "patch", "delete"}
    assert "409" in paths["/users"]["post"]["responses"]
