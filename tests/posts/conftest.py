"""What the search tests share: the author of their posts."""

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.users.models import User
from tests.factories import make_user


@pytest.fixture
async def author(committed_sessionmaker: async_sessionmaker[AsyncSession]) -> User:
    """A user, committed."""
    async with committed_sessionmaker() as session:
        return await make_user(session)
