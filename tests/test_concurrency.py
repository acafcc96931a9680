"""Concurrent requests on committed data: the database decides, and no request fails."""

import asyncio

import httpx

SIGNUPS = 32
WRITERS = 64


async def test_concurrent_signups_with_one_email_create_exactly_one_user(
    committed_open_client: httpx.AsyncClient,
) -> None:
    async def sign_up(i: int) -> httpx.Response:
        return await committed_open_client.post("/users", json={"email": "Race@Example.com", "name": f"n{i}"})

    responses = await asyncio.gather(*(sign_up(i) for i in range(SIGNUPS)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (SIGNUPS - 1)
    listed = (await committed_open_client.get("/users")).json()
    assert [u["email"] for u in listed] == ["race@example.com"]


async def test_concurrent_writers_all_succeed(committed_open_client: httpx.AsyncClient) -> None:
    author = (await committed_open_client.post("/users", json={"email": "w@example.com", "name": "W"})).json()

    async def write(i: int) -> httpx.Response:
        if i % 2:
            return await committed_open_client.post(
                f"/users/{author['id']}/posts", json={"title": f"{i}", "body": "b"}
            )
        return await committed_open_client.post(
            "/users", json={"email": f"writer{i}@example.com", "name": "W"}
        )

    responses = await asyncio.gather(*(write(i) for i in range(WRITERS)))

    assert [r.status_code for r in responses] == [201] * WRITERS
    posts = await committed_open_client.get(f"/users/{author['id']}/posts", params={"limit": 100})
    assert len(posts.json()) == WRITERS // 2


async def test_concurrent_patches_of_one_user_all_succeed(committed_open_client: httpx.AsyncClient) -> None:
    user = (await committed_open_client.post("/users", json={"email": "p@example.com", "name": "P"})).json()

    responses = await asyncio.gather(
        *(committed_open_client.patch(f"/users/{user['id']}", json={"bio": f"v{i}"}) for i in range(WRITERS))
    )

    assert [r.status_code for r in responses] == [200] * WRITERS
    final = (await committed_open_client.get(f"/users/{user['id']}")).json()
    assert final["bio"] in {f"v{i}" for i in range(WRITERS)}
