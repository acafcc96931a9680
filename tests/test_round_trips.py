"""Writes take as few statements as the database allows: no SELECT before an INSERT or an UPDATE."""

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.factories import make_user


@contextmanager
def recorded_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not statement.upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")):
            statements.append(" ".join(statement.split()).upper())

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_patch_is_one_update_returning_where_the_database_has_it(
    open_client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    user = await make_user(session, name="Before")

    with recorded_statements(engine) as statements:
        response = await open_client.patch(f"/users/{user.id}", json={"name": "After"})

    assert response.json()["name"] == "After"
    if engine.dialect.update_returning:
        assert len(statements) == 1
        assert statements[0].startswith("UPDATE USERS SET")
        assert " RETURNING " in statements[0]
    else:  # MariaDB: no UPDATE ... RETURNING, so the row this transaction just wrote is read back
        assert [s.split()[0] for s in statements] == ["UPDATE", "SELECT"]


async def test_an_empty_patch_returns_the_user_unchanged(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, name="Same")
    before = (await open_client.get(f"/users/{user.id}")).json()

    response = await open_client.patch(f"/users/{user.id}", json={})

    assert response.status_code == 200
    assert response.json() == before


async def test_creating_a_post_does_not_look_the_author_up_first(
    open_client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    author = await make_user(session)

    with recorded_statements(engine) as statements:
        response = await open_client.post(f"/users/{author.id}/posts", json={"title": "t", "body": "b"})

    assert response.status_code == 201
    assert [s.split()[0] for s in statements] == ["INSERT"]


async def test_a_post_for_an_impossible_author_id_is_404(open_client: httpx.AsyncClient) -> None:
    for user_id in ("0", "-3", str(2**31), "9" * 30):
        response = await open_client.post(f"/users/{user_id}/posts", json={"title": "t", "body": "b"})

        assert (response.status_code, response.json()) == (404, {"detail": "User not found"})


async def test_a_users_posts_take_one_query_when_there_are_some(
    open_client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    author = await make_user(session)
    await open_client.post(f"/users/{author.id}/posts", json={"title": "t", "body": "b"})

    with recorded_statements(engine) as statements:
        response = await open_client.get(f"/users/{author.id}/posts")

    assert len(response.json()) == 1
    assert len(statements) == 1


async def test_a_user_without_posts_is_an_empty_list_and_a_missing_one_is_404(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    author = await make_user(session)

    empty = await open_client.get(f"/users/{author.id}/posts")
    missing = await open_client.get("/users/2147483647/posts")
    impossible = await open_client.get("/users/0/posts")

    assert (empty.status_code, empty.json()) == (200, [])
    assert (missing.status_code, missing.json()) == (404, {"detail": "User not found"})
    assert impossible.status_code == 404
