"""The request owns the transaction: commit before the response, roll back on error."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.main import create_app
from inkwell.posts.models import Post
from inkwell.users.models import User
from tests.factories import make_post, make_user


class CommitRefused(Exception):
    pass


def _refuse(_connection: Connection) -> None:
    raise CommitRefused


@pytest.fixture
async def failing_commit_client(
    open_settings: Settings, committed_database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on an engine of its own whose every commit fails (as a lost connection would); what the
    requests wrote is deleted after, with what `committed_database` saw."""
    engine = create_engine(open_settings)
    event.listen(engine.sync_engine, "commit", _refuse)
    app = create_app(open_settings, database=Database(engine))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkwell.test") as client:
        yield client
    await engine.dispose()


async def test_a_failed_commit_never_follows_a_2xx(
    failing_commit_client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await failing_commit_client.post("/users", json={"email": "lost@example.com", "name": "L"})

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    async with AsyncSession(engine) as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_a_domain_error_rolls_back_the_request(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, email="taken@example.com")
    user = await make_user(session, name="Before")

    response = await open_client.patch(
        f"/users/{user.id}", json={"name": "After", "email": "taken@example.com"}
    )

    assert response.status_code == 409
    assert (await open_client.get(f"/users/{user.id}")).json()["name"] == "Before"


async def test_deleting_a_user_deletes_their_posts_in_the_database(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)
    await make_post(session, user)
    await make_post(session, user)

    await open_client.delete(f"/users/{user.id}")

    count = await session.scalar(select(func.count()).select_from(User).where(User.id == user.id))
    posts = await session.scalar(select(func.count()).select_from(Post).where(Post.author_id == user.id))
    assert (count, posts) == (0, 0)
