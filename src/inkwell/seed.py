"""Demo data: many users with posts each, inserted in bulk.

The users have names, and the posts titles and bodies on a dozen subjects (inkwell.demo_text), so that
search finds some and not others. Given a password's hash (`inkwell seed` makes one password and prints
it), every demo user signs in with that password.
"""

from collections.abc import Callable
from typing import Any

from inkwell.db import Database
from inkwell.demo_text import DemoRun, PostWriter, person_name
from inkwell.orm import utcnow
from inkwell.posts import service as posts
from inkwell.users import service as users


async def seed(
    database: Database,
    *,
    user_count: int,
    posts_per_user: int,
    batch_size: int,
    on_batch: Callable[[int], None],
    demo: DemoRun | None = None,
) -> None:
    """Insert `user_count` users with `posts_per_user` posts each; one transaction per batch of users."""
    run = demo or DemoRun()
    for first in range(0, user_count, batch_size):
        numbers = range(first, min(first + batch_size, user_count))
        async with database.transaction() as tx:
            ids = await users.insert_users(tx, [_user(run, n) for n in numbers])
            if posts_per_user:
                await posts.POSTS.insert_many(tx, _posts(ids, posts_per_user))
        on_batch(len(numbers))


def _user(run: DemoRun, number: int) -> dict[str, Any]:
    now = utcnow()
    return {
        "email": run.email(number),
        "name": person_name(f"{run.tag}:{number}"),
        "password_hash": run.password_hash,
        "created_at": now,
        "updated_at": now,
    }


def _posts(author_ids: list[int], per_user: int) -> list[dict[str, Any]]:
    now = utcnow()
    # Seeded by the batch's first author: the same users get the same posts.
    writer = PostWriter(min(author_ids, default=0))
    rows = []
    for author in author_ids:
        for _ in range(per_user):
            text = writer.post()
            rows.append(
                {
                    "author_id": author,
                    "title": text.title,
                    "body": text.body,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    return rows
