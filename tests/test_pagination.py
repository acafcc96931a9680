"""Keyset pagination (`after=` and the `Link` header) on every list, beside the tutorial's limit/offset."""

import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from inkwell.config import Settings
from inkwell.db import Database
from tests.accounts import Account, new_account
from tests.apps import app_on, asgi_client
from tests.databases import statements_run
from tests.factories import make_post, make_user

NEXT_LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


def next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = NEXT_LINK.match(link)
    assert match, link
    return match["url"]


async def walk(client: httpx.AsyncClient, url: str, reader: Account) -> list[list[int]]:
    """Follow the `Link` headers from `url` to the last page, as a client does (each link relative to the
    page it came with), signed in as `reader`; the ids of each page."""
    pages: list[list[int]] = []
    next_url: httpx.URL | None = client.base_url.join(url)
    while next_url is not None:
        response = await client.get(next_url, headers=reader.headers)
        assert response.status_code == 200, response.text
        pages.append([item["id"] for item in response.json()])
        link = next_link(response)
        next_url = None if link is None else response.url.join(link)
    return pages


async def test_users_pages_follow_the_link_header_to_the_end(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    ids = [account.id] + [(await make_user(session)).id for _ in range(4)]

    pages = await walk(client, "/users?limit=2", account)

    assert pages == [ids[0:2], ids[2:4], ids[4:5]]


async def test_a_full_last_page_has_no_next_link(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    ids = [account.id] + [(await make_user(session)).id for _ in range(3)]

    pages = await walk(client, "/users?limit=2", account)

    assert pages == [ids[0:2], ids[2:4]]


async def test_after_starts_past_the_given_id(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    ids = [account.id] + [(await make_user(session)).id for _ in range(3)]

    response = await client.get("/users", params={"after": ids[1], "limit": 10}, headers=account.headers)

    assert [u["id"] for u in response.json()] == ids[2:]
    assert next_link(response) is None


async def test_the_next_link_keeps_the_filters_and_drops_the_offset(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    author, other = await make_user(session), await make_user(session)
    posts = [(await make_post(session, author)).id for _ in range(4)]
    await make_post(session, other)

    first = await client.get(
        "/posts", params={"author_id": author.id, "limit": 1, "offset": 1}, headers=account.headers
    )
    link = next_link(first)

    assert link is not None
    query = httpx.URL(link).params
    assert (query["author_id"], query["limit"], query["after"]) == (str(author.id), "1", str(posts[2]))
    assert "offset" not in query
    assert [p["id"] for p in first.json()] == [posts[2]]


async def test_the_next_link_keeps_repeated_and_empty_parameters_in_their_order(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    await make_user(session)

    response = await client.get(
        "/users?tag=a&limit=1&tag=b%20c&empty=&after=0&offset=0", headers=account.headers
    )

    assert next_link(response) == f"/users?tag=a&limit=1&tag=b+c&empty=&after={account.id}"


@pytest.mark.parametrize("path", ["/users", "/posts"])
async def test_the_next_link_is_relative_whatever_host_the_client_names(
    client: httpx.AsyncClient, session: AsyncSession, account: Account, path: str
) -> None:
    author = await make_user(session)
    await make_post(session, author)
    await make_post(session, author)

    response = await client.get(f"{path}?limit=1", headers={"Host": "evil.example", **account.headers})

    link = next_link(response)
    assert link is not None
    assert link.startswith(f"{path}?")
    assert "evil.example" not in response.headers["link"]
    assert not httpx.URL(link).is_absolute_url


async def test_posts_pages_run_newest_first(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    author = await make_user(session)
    ids = [(await make_post(session, author)).id for _ in range(5)]

    pages = await walk(client, "/posts?limit=2", account)

    assert pages == [ids[:2:-1], ids[2:0:-1], ids[0:1]]


async def test_a_users_posts_page_by_keyset(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    author, other = await make_user(session), await make_user(session)
    ids = []
    for _ in range(3):
        ids.append((await make_post(session, author)).id)
        await make_post(session, other)

    pages = await walk(client, f"/users/{author.id}/posts?limit=2", account)

    assert pages == [ids[0:2], ids[2:3]]


async def test_offset_still_pages_as_the_tutorial_does(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    ids = [account.id] + [(await make_user(session)).id for _ in range(2)]

    response = await client.get("/users", params={"limit": 1, "offset": 1}, headers=account.headers)

    assert [u["id"] for u in response.json()] == [ids[1]]
    assert next_link(response) is not None


@pytest.mark.parametrize("offset", ["10001", "2000000000", str(10**30)])
async def test_an_offset_past_the_cap_is_422_pointing_to_after(
    client: httpx.AsyncClient, session: AsyncSession, account: Account, offset: str
) -> None:
    author = await make_user(session)
    for path in ("/users", "/posts", f"/users/{author.id}/posts"):
        response = await client.get(path, params={"offset": offset}, headers=account.headers)

        assert response.status_code == 422, path
        [error] = response.json()["detail"]
        assert (error["type"], error["loc"]) == ("less_than_equal", ["query", "offset"])
        assert error["ctx"] == {"le": 10_000}
        assert "after=" in error["msg"]


async def test_the_offset_cap_is_a_setting_and_is_documented(
    settings: Settings, database: Database, session: AsyncSession
) -> None:
    author = await make_user(session)
    async with asgi_client(app_on(settings.model_copy(update={"max_offset": 3}), database)) as client:
        reader = await new_account(client)
        posts = f"/users/{author.id}/posts"
        at_the_cap = await client.get(posts, params={"offset": 3}, headers=reader.headers)
        past_it = await client.get(posts, params={"offset": 4}, headers=reader.headers)
        openapi = (await client.get("/openapi.json")).json()

    assert (at_the_cap.status_code, past_it.status_code) == (200, 422)
    offsets = [
        parameter["schema"]
        for path in openapi["paths"].values()
        for operation in path.values()
        for parameter in operation.get("parameters", ())
        if parameter["name"] == "offset"
    ]
    assert len(offsets) == 3
    assert [(schema["minimum"], schema["maximum"]) for schema in offsets] == [(0, 3)] * 3


@pytest.mark.parametrize("after", ["-1", str(2**31), "x"])
async def test_a_bad_cursor_is_422(
    client: httpx.AsyncClient, session: AsyncSession, account: Account, after: str
) -> None:
    author = await make_user(session)
    for path in ("/users", "/posts", f"/users/{author.id}/posts"):
        response = await client.get(path, params={"after": after}, headers=account.headers)

        assert response.status_code == 422, path
        assert "detail" in response.json()


async def test_lists_never_count_their_table(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine, account: Account
) -> None:
    author = await make_user(session)
    await make_post(session, author)
    with statements_run(engine) as statements:
        for path in ("/users", "/posts", f"/users/{author.id}/posts"):
            assert (await client.get(path, headers=account.headers)).status_code == 200

    assert statements
    assert not [s for s in statements if "count(" in s.lower()]
