"""The peers Inkwell is measured against answer the benchmark's requests: the asyncpg ceiling exactly as
Inkwell does (same models), the tutorial's async variant as the tutorial does."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bench.peers import asyncpg_app, seed_app
from bench.seed import asyncpg_dsn
from inkwell.db import async_url
from inkwell.posts.models import Post
from inkwell.users.models import User
from tests.apps import asgi_client
from tests.factories import make_post, make_user

# The peers run on PostgreSQL, as the benchmark does.
pytestmark = pytest.mark.backends("postgresql")


async def peer_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield client


@pytest.fixture
async def ceiling(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in peer_client(asyncpg_app(asyncpg_dsn(database_url), pool_size=2)):
        yield client


@pytest.fixture
async def tutorial(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in peer_client(seed_app(async_url(database_url).render_as_string(False), pool_size=2)):
        yield client


@pytest.fixture
async def author(engine: AsyncEngine) -> AsyncIterator[User]:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        user = await make_user(session, name="Peer", bio="Measured against.")
        await make_post(session, user, title="First", body="Words.")
    yield user
    async with engine.begin() as conn:
        await conn.execute(delete(Post).where(Post.author_id == user.id))
        await conn.execute(delete(User).where(User.email.like("peer-%") | (User.id == user.id)))


READS = ["/users/{id}", "/users/{id}/posts", "/users?limit=1", "/posts?limit=1"]


def test_the_ceilings_routes_solve_no_dependency() -> None:
    # FastAPI spends 10 to 20 us on each dependency it solves; the routes read the pool directly.
    app = asyncpg_app("postgresql://postgres@127.0.0.1/unused", pool_size=1)
    routes = [route for route in app.routes if isinstance(route, APIRoute)]

    assert len(routes) == 8
    assert [route.path for route in routes if route.dependant.dependencies] == []


@pytest.mark.parametrize("path", READS)
async def test_the_ceiling_answers_reads_as_inkwell_does(
    ceiling: httpx.AsyncClient, open_client: httpx.AsyncClient, author: User, path: str
) -> None:
    url = path.format(id=author.id)

    ours, theirs = await open_client.get(url), await ceiling.get(url)

    assert theirs.status_code == ours.status_code == 200
    assert theirs.json() == ours.json()


async def test_the_ceiling_writes_as_inkwell_does(ceiling: httpx.AsyncClient, author: User) -> None:
    created = await ceiling.post("/users", json={"email": "peer-new@example.com", "name": "New"})
    taken = await ceiling.post("/users", json={"email": "peer-new@example.com", "name": "Again"})
    posted = await ceiling.post(f"/users/{author.id}/posts", json={"title": "T", "body": "B"})
    orphan = await ceiling.post("/users/2147483647/posts", json={"title": "T", "body": "B"})
    patched = await ceiling.patch(f"/users/{author.id}", json={"bio": "Changed."})
    invalid = await ceiling.post("/users", json={"email": "not an email", "name": "X"})

    assert created.status_code == 201
    assert set(created.json()) == {"id", "email", "name", "bio", "created_at", "updated_at"}
    assert taken.status_code == 409
    assert (posted.status_code, posted.json()["author_id"]) == (201, author.id)
    assert orphan.status_code == 404
    assert (patched.status_code, patched.json()["bio"]) == (200, "Changed.")
    assert invalid.status_code == 422


async def test_the_tutorial_answers_every_scenario(tutorial: httpx.AsyncClient, author: User) -> None:
    reads = [await tutorial.get(path.format(id=author.id)) for path in [*READS, "/posts/0"]]
    created = await tutorial.post("/users", json={"email": "peer-seed@example.com", "name": "Seed"})
    posted = await tutorial.post(f"/users/{author.id}/posts", json={"title": "T", "body": "B"})
    patched = await tutorial.patch(f"/users/{author.id}", json={"bio": "Changed."})

    assert [read.status_code for read in reads] == [200, 200, 200, 200, 404]
    assert reads[0].json()["name"] == "Peer"
    assert created.status_code == 201
    assert posted.status_code == 201
    assert (patched.status_code, patched.json()["bio"]) == (200, "Changed.")
