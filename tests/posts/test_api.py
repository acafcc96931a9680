"""The posts routes."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_post, make_user


async def test_create_post_returns_201_with_the_post(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)

    response = await open_client.post(f"/users/{user.id}/posts", json={"title": "Hello", "body": "World"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "title", "body", "author_id", "created_at", "updated_at"}
    assert (body["title"], body["body"], body["author_id"]) == ("Hello", "World", user.id)


async def test_create_post_for_missing_user_is_404(open_client: httpx.AsyncClient) -> None:
    response = await open_client.post("/users/424242/posts", json={"title": "Hello", "body": "World"})

    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}


@pytest.mark.parametrize(
    "payload",
    [
        {"title": "x" * 201, "body": "b"},
        {"title": "t", "body": "x" * 10_001},
        {"title": "", "body": "b"},
        {"title": "t"},
        {"title": None, "body": "b"},
        {"title": "nul\x00", "body": "b"},
        {"title": "t", "body": "nul\x00"},
    ],
)
async def test_create_post_with_invalid_fields_is_422(
    open_client: httpx.AsyncClient, session: AsyncSession, payload: dict[str, object]
) -> None:
    user = await make_user(session)

    response = await open_client.post(f"/users/{user.id}/posts", json=payload)

    assert response.status_code == 422


async def test_longest_title_and_body_are_stored_whole(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    # Four-byte characters count as one, as the column lengths do on every database.
    title, body = "🖋" * 200, "é" * 10_000

    created = await open_client.post(f"/users/{user.id}/posts", json={"title": title, "body": body})
    fetched = await open_client.get(f"/posts/{created.json()['id']}")

    assert created.status_code == 201
    assert (fetched.json()["title"], fetched.json()["body"]) == (title, body)


async def test_list_user_posts_returns_only_theirs(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    author, other = await make_user(session), await make_user(session)
    mine = [await make_post(session, author) for _ in range(3)]
    await make_post(session, other)

    response = await open_client.get(f"/users/{author.id}/posts")

    assert response.status_code == 200
    assert [p["id"] for p in response.json()] == [p.id for p in mine]


async def test_list_posts_of_missing_user_is_404(open_client: httpx.AsyncClient) -> None:
    response = await open_client.get("/users/424242/posts")

    assert response.status_code == 404


async def test_list_posts_is_newest_first_and_filters_by_author(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ada, bob = await make_user(session), await make_user(session)
    first, second, third = [await make_post(session, author) for author in (ada, bob, ada)]

    everything = await open_client.get("/posts")
    adas = await open_client.get("/posts", params={"author_id": ada.id})
    page = await open_client.get("/posts", params={"limit": 1, "offset": 1})

    assert [p["id"] for p in everything.json()] == [third.id, second.id, first.id]
    assert [p["id"] for p in adas.json()] == [third.id, first.id]
    assert [p["id"] for p in page.json()] == [second.id]


@pytest.mark.parametrize(
    "params", [{"author_id": "x"}, {"author_id": 0}, {"author_id": 2**31}, {"limit": 101}]
)
async def test_list_posts_with_bad_query_is_422(
    open_client: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    response = await open_client.get("/posts", params=params)

    assert response.status_code == 422


async def test_read_post(open_client: httpx.AsyncClient, session: AsyncSession) -> None:
    post = await make_post(session, await make_user(session), title="Read me")

    response = await open_client.get(f"/posts/{post.id}")

    assert response.status_code == 200
    assert response.json()["title"] == "Read me"


@pytest.mark.parametrize("post_id", ["424242", "0", str(2**31), str(2**64)])
async def test_read_missing_post_is_404(open_client: httpx.AsyncClient, post_id: str) -> None:
    response = await open_client.get(f"/posts/{post_id}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Post not found"}


async def test_patch_post_changes_only_the_fields_sent(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    post = await make_post(session, await make_user(session), title="Old", body="Kept")

    response = await open_client.patch(f"/posts/{post.id}", json={"title": "New"})

    assert response.status_code == 200
    assert (response.json()["title"], response.json()["body"]) == ("New", "Kept")


@pytest.mark.parametrize("payload", [{"title": None}, {"body": None}, {"title": "x" * 201}])
async def test_patch_post_with_invalid_fields_is_422(
    open_client: httpx.AsyncClient, session: AsyncSession, payload: dict[str, object]
) -> None:
    post = await make_post(session, await make_user(session))

    response = await open_client.patch(f"/posts/{post.id}", json=payload)

    assert response.status_code == 422


async def test_delete_post(open_client: httpx.AsyncClient, session: AsyncSession) -> None:
    post = await make_post(session, await make_user(session))

    response = await open_client.delete(f"/posts/{post.id}")

    assert response.status_code == 204
    assert response.content == b""
    assert (await open_client.get(f"/posts/{post.id}")).status_code == 404


async def test_patch_and_delete_missing_post_are_404(open_client: httpx.AsyncClient) -> None:
    assert (await open_client.patch("/posts/424242", json={"title": "x"})).status_code == 404
    assert (await open_client.delete("/posts/424242")).status_code == 404
