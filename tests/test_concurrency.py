"""Concurrent requests on committed data: the database decides, and no request fails."""

import asyncio

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.models import User
from tests.accounts import PASSWORD, new_account

SIGNUPS = 32
WRITERS = 64


@pytest.fixture(scope="session")
def settings(settings: Settings) -> Settings:
    """Every request here comes from one address: how many it may sign up is not what is tested."""
    return settings.model_copy(update={"sign_up_limit_per_address": SIGNUPS + WRITERS})


def sign_up_body(email: str, name: str) -> dict[str, str]:
    return {"email": email, "name": name, "password": PASSWORD}


async def test_concurrent_signups_with_one_email_create_exactly_one_user(
    committed_client: httpx.AsyncClient, committed_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async def sign_up(i: int) -> httpx.Response:
        return await committed_client.post("/users", json=sign_up_body("Race@Example.com", f"n{i}"))

    responses = await asyncio.gather(*(sign_up(i) for i in range(SIGNUPS)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (SIGNUPS - 1)
    async with committed_sessionmaker() as session:
        assert list(await session.scalars(select(User.email))) == ["race@example.com"]


async def test_concurrent_writers_all_succeed(committed_client: httpx.AsyncClient) -> None:
    author = await new_account(committed_client)

    async def write(i: int) -> httpx.Response:
        if i % 2:
            return await committed_client.post(
                f"/users/{author.id}/posts", json={"title": f"{i}", "body": "b"}, headers=author.headers
            )
        return await committed_client.post("/users", json=sign_up_body(f"writer{i}@example.com", "W"))

    responses = await asyncio.gather(*(write(i) for i in range(WRITERS)))

    assert [r.status_code for r in responses] == [201] * WRITERS
    posts = await committed_client.get(
        f"/users/{author.id}/posts", params={"limit": 100}, headers=author.headers
    )
    assert len(posts.json()) == WRITERS // 2


async def test_concurrent_patches_of_one_user_all_succeed(committed_client: httpx.AsyncClient) -> None:
    user = await new_account(committed_client)

    responses = await asyncio.gather(
        *(
            committed_client.patch(f"/users/{user.id}", json={"bio": f"v{i}"}, headers=user.headers)
            for i in range(WRITERS)
        )
    )

    assert [r.status_code for r in responses] == [200] * WRITERS
    final = (await committed_client.get(f"/users/{user.id}", headers=user.headers)).json()
    assert final["bio"] in {f"v{i}" for i in range(WRITERS)}
