"""Demo data: many users with posts each, inserted in bulk."""

import secrets
from collections.abc import Callable
from typing import Any

from inkwell.db import Database
from inkwell.orm import utcnow
from inkwell.posts import service as posts
from inkwell.users import service as users

POST_BODY = "A demonstration post. " * 8


async def seed(
    database: Database,
    *,
    user_count: int,
    posts_per_user: int,
    batch_size: int,
    on_batch: Callable[[int], None],
) -> None:
    """Insert `user_count` users with `posts_per_user` posts each; one transaction per batch of users."""
    # A tag of this run keeps its emails apart from every earlier run's.
    run = secrets.token_hex(4)
    for first in range(0, user_count, batch_size):
        numbers = range(first, min(first + batch_size, user_count))
        async with database.transaction() as tx:
            ids = await users.insert_users(tx, [_user(run, n) for n in numbers])
            if posts_per_user:
                await posts.POSTS.insert_many(tx, _posts(ids, posts_per_user))
        on_batch(len(numbers))


def _user(run: str, number: int) -> dict[str, Any]:
    now = utcnow()
    return {
        "email": f"demo-{run}-{number}@example.com",
        "name": f"Demo User {number}",
        "created_at": now,
        "updated_at": now,
    }


def _posts(author_ids: list[int], per_user: int) -> list[dict[str, Any]]:
    now = utcnow()
    return [
        {"author_id": author, "title": f"Post {n}", "body": POST_BODY, "created_at": now, "updated_at": now}
        for author in author_ids
        for n in range(1, per_user + 1)
    ]
