"""Plain functions that put rows in the test's database."""

from itertools import count

from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.posts.models import Post
from inkwell.users.models import User

_sequence = count(1)


def unique_email() -> str:
    return f"user{next(_sequence)}@example.com"


async def make_user(session: AsyncSession, **fields: object) -> User:
    values: dict[str, object] = {"email": unique_email(), "name": "Ada Lovelace", **fields}
    user = User(**values)
    session.add(user)
    await session.commit()
    return user


async def make_post(session: AsyncSession, author: User, **fields: object) -> Post:
    values: dict[str, object] = {"title": "On engines", "body": "Notes.", **fields}
    post = Post(author_id=author.id, **values)
    session.add(post)
    await session.commit()
    return post
