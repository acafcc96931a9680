"""Versioned rows (inkwell.versioned), on both of their paths on every database: with `RETURNING`, and the
portable one a database without it takes (MariaDB has no `UPDATE ... RETURNING`), forced here by telling
the dialect it has none."""

from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from inkwell.db import Database, Transaction
from inkwell.errors import PreconditionFailed
from inkwell.orm import utcnow
from inkwell.posts import service as posts
from inkwell.posts.errors import NotYourPost, PostNotFound
from inkwell.posts.schemas import PostCreate
from inkwell.users import service as users
from inkwell.users.errors import EmailTaken, UserNotFound
from inkwell.users.schemas import UserFields
from tests.factories import tags

RETURNING = ("insert_returning", "update_returning", "delete_returning")


@pytest.fixture(params=["returning", "portable"])
def database(request: pytest.FixtureRequest, connection: AsyncConnection) -> Iterator[Database]:
    """The test's database, its dialect told it has no RETURNING at all for the portable path."""
    if request.param == "portable":
        with pytest.MonkeyPatch.context() as patch:
            for flag in RETURNING:
                patch.setattr(connection.dialect, flag, False)
            yield Database(connection)
        return
    yield Database(connection)


async def new_user(tx: Transaction, email: str = "ada@example.com") -> int:
    return (await users.create_user(tx, data=UserFields(email=email, name="Ada"))).id


async def test_an_insert_reads_back_the_whole_row(database: Database) -> None:
    async with database.transaction() as tx:
        user = await users.create_user(tx, data=UserFields(email="ada@example.com", name="Ada"))
        post = await posts.create_post(tx, author_id=user.id, data=PostCreate(title="T", body="B"))

    assert (user.email, user.version, user.created_at == user.updated_at) == ("ada@example.com", 1, True)
    assert (post.author_id, post.title, post.version) == (user.id, "T", 1)


async def test_a_refused_insert_is_the_tables_own_error(database: Database) -> None:
    async with database.transaction() as tx:
        await new_user(tx)
    with pytest.raises(EmailTaken):
        async with database.transaction() as tx:
            await new_user(tx)
    with pytest.raises(UserNotFound):
        async with database.transaction() as tx:
            await posts.create_post(tx, author_id=999_999, data=PostCreate(title="T", body="B"))


async def test_a_change_to_what_is_shown_moves_the_version_and_the_time(database: Database) -> None:
    async with database.transaction() as tx:
        created = await users.USERS.get(tx, await new_user(tx))
        assert created is not None
        changed = await users.update_user(tx, created.id, changes={"name": "Grace"})
        await users.rehash_password(tx, created.id, "a hash")
        hidden = await users.USERS.get(tx, created.id)

    assert (changed.name, changed.version) == ("Grace", 2)
    assert changed.updated_at > created.updated_at
    assert hidden is not None
    assert (hidden.password_hash, hidden.version, hidden.updated_at) == ("a hash", 2, changed.updated_at)


async def test_a_new_email_is_unverified_and_the_same_one_keeps_its_verification(database: Database) -> None:
    async with database.transaction() as tx:
        user_id = await new_user(tx)
        verified = await users.confirm_email(tx, user_id, email="ada@example.com", now=utcnow())
        same = await users.update_user(tx, user_id, changes={"email": "ada@example.com"})
        other = await users.update_user(tx, user_id, changes={"email": "grace@example.com"})

    assert verified.email_verified_at is not None
    assert same.email_verified_at == verified.email_verified_at
    assert other.email_verified_at is None


async def test_if_match_is_checked_in_the_write(database: Database) -> None:
    async with database.transaction() as tx:
        user_id = await new_user(tx)
        with pytest.raises(PreconditionFailed):
            await users.update_user(tx, user_id, changes={"name": "Late"}, if_match=tags(user_id, 7))
        with pytest.raises(PreconditionFailed):
            await users.update_user(tx, user_id, changes={}, if_match=tags(user_id, 7))
        on_time = await users.update_user(
            tx, user_id, changes={"name": "On time"}, if_match=tags(user_id, 1, 7)
        )
        with pytest.raises(PreconditionFailed):
            await users.USERS.delete(tx, user_id, if_match=tags(user_id, 1))
        await users.USERS.delete(tx, user_id, if_match=tags(user_id, 2))
        gone = await users.USERS.get(tx, user_id)

    assert (on_time.name, on_time.version, gone) == ("On time", 2, None)


async def test_a_write_that_matches_nothing_says_why(database: Database) -> None:
    async with database.transaction() as tx:
        author, other = await new_user(tx), await new_user(tx, "grace@example.com")
        post = await posts.create_post(tx, author_id=author, data=PostCreate(title="T", body="B"))
        change = {"title": "X"}

        with pytest.raises(PostNotFound):
            await posts.POSTS.update(tx, post.id + 1000, change)
        with pytest.raises(NotYourPost):
            await posts.POSTS.update(tx, post.id, change, owner=other)
        with pytest.raises(NotYourPost):
            await posts.POSTS.update(tx, post.id, change, owner=other, if_match=tags(post.id, 7))
        with pytest.raises(PreconditionFailed):
            await posts.POSTS.update(tx, post.id, change, owner=author, if_match=tags(post.id, 7))
        with pytest.raises(NotYourPost):
            await posts.POSTS.update(tx, post.id, {}, owner=other)
        with pytest.raises(NotYourPost):
            await posts.POSTS.delete(tx, post.id, owner=other)
        with pytest.raises(PostNotFound):
            await posts.POSTS.delete(tx, 0)
        await posts.POSTS.delete(tx, post.id, owner=author, if_match=tags(post.id, 1))
        with pytest.raises(PostNotFound):
            await posts.POSTS.delete(tx, post.id, owner=author)


async def test_a_taken_email_refuses_a_change(database: Database) -> None:
    async with database.transaction() as tx:
        await new_user(tx)
        grace = await new_user(tx, "grace@example.com")
    with pytest.raises(EmailTaken):
        async with database.transaction() as tx:
            await users.update_user(tx, grace, changes={"email": "ada@example.com"})
