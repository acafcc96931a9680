"""What the search tests share: the author of their posts, and a way to write one."""

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.posts.models import Post
from inkwell.users.models import User
from tests.factories import make_post, make_user


@pytest.fixture
async def author(committed_sessionmaker: async_sessionmaker[AsyncSession]) -> User:
    """A user, committed."""
    async with committed_sessionmaker() as session:
        return await make_user(session)


@pytest.fixture
async def write(committed_sessionmaker: async_sessionmaker[AsyncSession], author: User) -> Any:
    """Commits a post by `author` (or `by`) and returns it."""

    async def write_post(title: str, body: str = "Nothing to see.", *, by: User | None = None) -> Post:
        async with committed_sessionmaker() as session:
            return await make_post(session, by or author, title=title, body=body)

    return write_post
