"""Idempotency-Key on POST /users and POST /users/{id}/posts: a retry never writes twice.

With sign-in on, sign-ups share one scope of keys (no one is signed in yet), and each user's posts have a
scope of their own.
"""

import asyncio
import hashlib
import json
import logging
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.idempotency import cleanup
from inkwell.idempotency.dependencies import fingerprint as idempotency_fingerprint
from inkwell.idempotency.dependencies import nobody_signed_in
from inkwell.idempotency.models import IdempotencyKey
from inkwell.main import create_app
from inkwell.models import Post, User
from inkwell.orm import utcnow
from tests.accounts import PASSWORD, Account, new_account
from tests.factories import make_user

RACERS = 8
REUSED = {"detail": "This Idempotency-Key was used for a different request"}


async def count(
    executor: AsyncSession | AsyncConnection, model: type[User] | type[Post] | type[IdempotencyKey]
) -> int:
    return int(await executor.scalar(select(func.count()).select_from(model)) or 0)


def keyed(key: str, account: Account | None = None) -> dict[str, str]:
    """The Idempotency-Key header, with the account's token when the request is made signed in."""
    return {"Idempotency-Key": key, **(account.headers if account else {})}


def member(email: str, name: str = "M") -> dict[str, str]:
    """A sign-up's body."""
    return {"email": email, "name": name, "password": PASSWORD}


async def test_a_retried_sign_up_gets_the_first_response_and_creates_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    payload = member("once@example.com")

    first = await client.post("/users", json=payload, headers=keyed("signup-1"))
    retry = await client.post("/users", json=payload, headers=keyed("signup-1"))

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.content == first.content
    assert retry.headers["etag"] == first.headers["etag"]
    assert "idempotent-replayed" not in first.headers
    assert retry.headers["idempotent-replayed"] == "true"
    assert await count(session, User) == 1


async def test_a_retried_post_gets_the_first_response_and_creates_nothing(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    url = f"/users/{account.id}/posts"

    responses = [
        await client.post(url, json={"title": "t", "body": "b"}, headers=keyed("post-1", account))
        for _ in range(3)
    ]

    assert {r.content for r in responses} == {responses[0].content}
    assert [r.status_code for r in responses] == [201] * 3
    assert await count(session, Post) == 1


async def test_without_a_key_every_post_is_written(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    for _ in range(2):
        await client.post(
            f"/users/{account.id}/posts", json={"title": "t", "body": "b"}, headers=account.headers
        )

    assert await count(session, Post) == 2
    assert await count(session, IdempotencyKey) == 0


async def test_the_same_body_laid_out_differently_is_the_same_request(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    compact = b'{"email":"layout@example.com","name":"L","password":"%s"}' % PASSWORD.encode()
    spaced = json.dumps({"name": "L", "password": PASSWORD, "email": "layout@example.com"}, indent=2).encode()
    headers = {**keyed("layout"), "content-type": "application/json"}

    first = await client.post("/users", content=compact, headers=headers)
    retry = await client.post("/users", content=spaced, headers=headers)

    assert retry.content == first.content
    assert await count(session, User) == 1


def test_secret_fields_are_left_out_of_the_fingerprint() -> None:
    def sign_up(**fields: str) -> str:
        body = {"email": "ada@example.com", "name": "Ada", **fields}
        return idempotency_fingerprint("POST", "/users", json.dumps(body).encode())

    assert sign_up(password="first password") == sign_up(password="second password") == sign_up()
    assert sign_up(new_password="a", api_key="b", client_secret="c", refresh_token="d") == sign_up()
    assert sign_up(email="grace@example.com") != sign_up()


async def test_no_stored_fingerprint_depends_on_the_password(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    payload = {"email": "hashed@example.com", "name": "H", "password": "a guessable password"}
    sent = json.dumps(payload).encode()
    headers = {**keyed("with-password"), "content-type": "application/json"}

    first = await client.post("/users", content=sent, headers=headers)
    retry = await client.post("/users", json={**payload, "password": "another password"}, headers=headers)

    stored = await session.scalar(
        select(IdempotencyKey.fingerprint).where(IdempotencyKey.key == "with-password")
    )
    guessable = [
        sent,
        json.dumps(payload, sort_keys=True).encode(),
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode(),
        json.dumps(payload, separators=(",", ":")).encode(),
    ]
    for canonical in guessable:
        for prefix in (b"", b"POST /users\n", b"POST /users "):
            assert stored != hashlib.sha256(prefix + canonical).hexdigest()
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.headers["idempotent-replayed"] == "true"  # only the password changed: the same request
    assert await count(session, User) == 1


async def test_the_same_key_with_another_body_is_422_and_writes_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await client.post("/users", json=member("a@example.com"), headers=keyed("k"))

    response = await client.post("/users", json=member("b@example.com"), headers=keyed("k"))

    assert response.status_code == 422
    assert response.json() == REUSED
    assert await count(session, User) == 1


async def test_the_same_key_on_another_route_is_422(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account
) -> None:
    author, other_author = await make_user(session), await make_user(session)
    post = {"title": "t", "body": "b"}
    await client.post(f"/users/{author.id}/posts", json=post, headers=keyed("k", admin))

    response = await client.post(f"/users/{other_author.id}/posts", json=post, headers=keyed("k", admin))

    assert (response.status_code, response.json()) == (422, REUSED)
    assert await count(session, Post) == 1


async def test_a_failed_request_keeps_no_key_so_a_retry_runs_again(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account
) -> None:
    taken = await make_user(session, email="taken@example.com")
    payload = member("taken@example.com")

    refused = await client.post("/users", json=payload, headers=keyed("after-409"))
    deleted = await client.request(
        "DELETE", f"/users/{taken.id}", json={"current_password": PASSWORD}, headers=admin.headers
    )
    assert deleted.status_code == 204
    retried = await client.post("/users", json=payload, headers=keyed("after-409"))

    assert (refused.status_code, retried.status_code) == (409, 201)
    assert "idempotent-replayed" not in retried.headers


async def test_an_expired_key_is_forgotten(
    client: httpx.AsyncClient, session: AsyncSession, account: Account
) -> None:
    url = f"/users/{account.id}/posts"
    await client.post(url, json={"title": "t", "body": "b"}, headers=keyed("old", account))
    await session.execute(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    await session.commit()

    again = await client.post(url, json={"title": "t", "body": "b"}, headers=keyed("old", account))

    assert again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert await count(session, Post) == 2
    assert await count(session, IdempotencyKey) == 1


async def test_keys_expire_after_the_configured_time(
    settings: Settings, database: Database, session: AsyncSession
) -> None:
    app = create_app(settings.model_copy(update={"idempotency_ttl": 90.0}), database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        await client.post("/users", json=member("ttl@example.com"), headers=keyed("ttl"))

    stored = await session.scalar(select(IdempotencyKey))
    assert stored is not None
    assert stored.expires_at - stored.created_at == pytest.approx(
        timedelta(seconds=90), abs=timedelta(seconds=1)
    )


async def test_keys_of_different_scopes_never_meet(app: FastAPI, session: AsyncSession) -> None:
    transport = httpx.ASGITransport(app=app)
    responses = []
    for name in ("alice", "bob"):
        owner = await make_user(session)
        app.dependency_overrides[nobody_signed_in] = lambda owner_id=owner.id: owner_id
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            responses.append(
                await client.post("/users", json=member(f"{name}@example.com"), headers=keyed("shared"))
            )

    assert [r.status_code for r in responses] == [201, 201]
    assert await count(session, User) == 4


async def test_two_users_may_use_the_same_key_each_for_their_own_post(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ada, grace = await new_account(client), await new_account(client)

    responses = [
        await client.post(
            f"/users/{who.id}/posts", json={"title": "t", "body": "b"}, headers=keyed("mine", who)
        )
        for who in (ada, grace)
    ]

    assert [r.status_code for r in responses] == [201, 201]
    assert ["idempotent-replayed" in r.headers for r in responses] == [False, False]
    assert await count(session, Post) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there"])
async def test_a_malformed_key_is_422(client: httpx.AsyncClient, session: AsyncSession, key: str) -> None:
    response = await client.post("/users", json=member("m@example.com"), headers=keyed(key))

    assert response.status_code == 422
    assert await count(session, User) == 0


async def test_same_key_at_once_writes_exactly_once(
    committed_client: httpx.AsyncClient, committed_database: Database
) -> None:
    author = await new_account(committed_client)

    for url, payload, account in (
        ("/users", member("racer@example.com"), None),
        (f"/users/{author.id}/posts", {"title": "t", "body": "b"}, author),
    ):
        responses = await asyncio.gather(
            *(
                committed_client.post(url, json=payload, headers=keyed(f"race-{url}", account))
                for _ in range(RACERS)
            )
        )

        # Every racer either waited and got the first response, or was told to retry (409).
        created = [r for r in responses if r.status_code == 201]
        assert {r.content for r in created} == {created[0].content}, url
        assert all(r.status_code in (201, 409) for r in responses), [r.text for r in responses]
        assert len([r for r in created if "idempotent-replayed" not in r.headers]) == 1

    async with committed_database.reads() as tx:
        assert (await count(tx.connection, User), await count(tx.connection, Post)) == (2, 1)


async def test_purging_deletes_only_expired_keys(
    committed_database: Database,
) -> None:
    now = utcnow()
    async with committed_database.transaction() as tx:
        for key, expires_at in (("old", now - timedelta(hours=1)), ("live", now + timedelta(hours=1))):
            values = {"scope": "s", "key": key, "fingerprint": "f", "expires_at": expires_at}
            await tx.connection.execute(insert(IdempotencyKey), values)

    purged = await cleanup.purge_once(committed_database)

    async with committed_database.transaction() as tx:
        assert purged == 1
        assert list(await tx.connection.scalars(select(IdempotencyKey.key))) == ["live"]


async def test_the_running_app_purges_expired_keys_in_the_background(
    settings: Settings, committed_database: Database
) -> None:
    async with committed_database.transaction() as tx:
        values = {"scope": "s", "key": "old", "fingerprint": "f", "expires_at": utcnow()}
        await tx.connection.execute(insert(IdempotencyKey), values)
    app = create_app(settings.model_copy(update={"purge_interval": 0.05}))

    async with app.router.lifespan_context(app):
        for _ in range(100):
            async with committed_database.reads() as tx:
                if await count(tx.connection, IdempotencyKey) == 0:
                    break
            await asyncio.sleep(0.05)

    async with committed_database.reads() as tx:
        assert await count(tx.connection, IdempotencyKey) == 0


async def test_an_unreachable_database_only_skips_a_purge(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:9/none"}))

    with caplog.at_level(logging.WARNING):
        async with app.router.lifespan_context(app):
            for _ in range(100):
                if any(r.name == "inkwell.idempotency.cleanup" for r in caplog.records):
                    break
                await asyncio.sleep(0.05)

    messages = [r.getMessage() for r in caplog.records if r.name == "inkwell.idempotency.cleanup"]
    assert messages
    assert all(m.startswith("could not purge expired idempotency keys") for m in messages)


async def test_a_key_whose_first_request_is_unfinished_is_409(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    # A claimed key without a response: its request is still running (or died before committing).
    expires_at = utcnow() + timedelta(hours=1)
    fingerprint = idempotency_fingerprint("POST", "/users", b'{"email": "x@example.com", "name": "X"}')
    session.add(IdempotencyKey(scope="anonymous", key="busy", fingerprint=fingerprint, expires_at=expires_at))
    await session.commit()

    response = await client.post("/users", json=member("x@example.com"), headers=keyed("busy"))

    assert response.status_code == 409
    assert response.json() == {"detail": "A request with this Idempotency-Key is in progress; retry shortly"}
    assert await count(session, User) == 0
