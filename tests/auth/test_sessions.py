"""Refresh rotation and reuse, logout and password change: a session ends at once, not at expiry."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from inkwell.auth.models import AuthSession, RefreshToken
from inkwell.auth.tokens import token_digest
from inkwell.config import Settings
from inkwell.db import Database, create_engine
from tests.accounts import Account, bearer, new_account, sign_in
from tests.apps import app_on, asgi_client


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/refresh", json={"refresh_token": token})


async def test_sign_in_answers_an_oauth2_token_pair(client: httpx.AsyncClient, account: Account) -> None:
    response = await sign_in(client, account.email)

    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60


async def test_refresh_rotates_the_pair(client: httpx.AsyncClient, account: Account) -> None:
    response = await refresh(client, account.refresh_token)

    assert response.status_code == 200
    pair = response.json()
    assert pair["refresh_token"] != account.refresh_token
    assert (await client.get("/users/me", headers=bearer(pair["access_token"]))).status_code == 200
    assert (await refresh(client, pair["refresh_token"])).status_code == 200


async def test_responses_with_tokens_are_never_cached(client: httpx.AsyncClient, account: Account) -> None:
    signed_in = await sign_in(client, account.email)
    refreshed = await refresh(client, account.refresh_token)

    for response in (signed_in, refreshed):
        assert response.status_code == 200
        assert (response.headers["Cache-Control"], response.headers["Pragma"]) == ("no-store", "no-cache")


async def test_refresh_tokens_are_stored_only_as_hashes(account: Account, session: AsyncSession) -> None:
    stored = list(await session.scalars(select(RefreshToken.token_hash)))

    assert token_digest(account.refresh_token) in stored
    assert account.refresh_token not in stored


async def test_a_reused_refresh_token_ends_the_whole_session(
    client: httpx.AsyncClient, account: Account
) -> None:
    rotated = (await refresh(client, account.refresh_token)).json()

    reused = await refresh(client, account.refresh_token)

    assert reused.status_code == 401
    assert reused.json() == {"detail": "Invalid or expired refresh token"}
    # Every token of that sign-in is dead now: the thief's and the owner's.
    assert (await refresh(client, rotated["refresh_token"])).status_code == 401
    assert (await client.get("/users/me", headers=bearer(rotated["access_token"]))).status_code == 401
    assert (await client.get("/users/me", headers=account.headers)).status_code == 401


async def test_reuse_leaves_other_sessions_alone(client: httpx.AsyncClient, account: Account) -> None:
    elsewhere = (await sign_in(client, account.email)).json()
    await refresh(client, account.refresh_token)

    await refresh(client, account.refresh_token)

    assert (await client.get("/users/me", headers=bearer(elsewhere["access_token"]))).status_code == 200


@pytest.mark.parametrize("token", ["", "x", "nonsense-token", "a" * 1024])
async def test_an_unknown_refresh_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    response = await refresh(client, token)

    assert response.status_code == 401


async def test_an_access_token_is_not_a_refresh_token(client: httpx.AsyncClient, account: Account) -> None:
    assert (await refresh(client, account.access_token)).status_code == 401


async def test_concurrent_refreshes_with_one_token_give_one_pair(
    committed_database: Database, settings: Settings
) -> None:
    async with asgi_client(app_on(settings, committed_database)) as client:
        account = await new_account(client)
        answers = await asyncio.gather(*(refresh(client, account.refresh_token) for _ in range(8)))

    statuses = sorted(response.status_code for response in answers)
    # One claims the token; the others present a used token, which ends the session.
    assert statuses == [200] + [401] * 7


async def age_sessions(session: AsyncSession, *, seconds: int) -> None:
    """Move every session's sign-in back in time, as the passing of time would."""
    session.expire_all()
    for auth_session in await session.scalars(select(AuthSession)):
        auth_session.created_at -= timedelta(seconds=seconds)
    await session.commit()


async def test_refreshes_never_keep_a_session_past_its_maximum_age(
    settings: Settings, database: Database, session: AsyncSession
) -> None:
    hour = 60 * 60
    settings = settings.model_copy(update={"refresh_token_ttl": 24 * hour, "session_max_age": hour})
    async with asgi_client(app_on(settings, database)) as client:
        account = await new_account(client)
        await age_sessions(session, seconds=50 * 60)
        late = await refresh(client, account.refresh_token)
        [(created_at, expires_at)] = await session.execute(
            select(AuthSession.created_at, AuthSession.expires_at)
        )
        await age_sessions(session, seconds=10 * 60)
        too_late = await refresh(client, late.json()["refresh_token"])

    assert late.status_code == 200
    # What is left of its hour, not another day.
    assert expires_at == created_at + timedelta(hours=1)
    assert (too_late.status_code, too_late.json()) == (401, {"detail": "Invalid or expired refresh token"})


async def test_a_session_never_refreshed_ends_at_its_maximum_age_too(
    settings: Settings, database: Database, session: AsyncSession
) -> None:
    hour = 60 * 60
    settings = settings.model_copy(update={"refresh_token_ttl": 24 * hour, "session_max_age": hour})
    async with asgi_client(app_on(settings, database)) as client:
        await new_account(client)
        [(created_at, expires_at)] = await session.execute(
            select(AuthSession.created_at, AuthSession.expires_at)
        )

    assert expires_at == created_at + timedelta(hours=1)


async def test_sessions_last_30_days_at_most_by_default(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    await age_sessions(session, seconds=30 * 24 * 60 * 60)

    assert (await refresh(client, account.refresh_token)).status_code == 401


async def test_logout_ends_the_session_at_once(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post("/auth/logout", headers=account.headers)

    assert response.status_code == 204
    assert (await client.get("/users/me", headers=account.headers)).status_code == 401
    assert (await refresh(client, account.refresh_token)).status_code == 401


async def test_logout_needs_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.post("/auth/logout")).status_code == 401


async def test_a_password_change_ends_every_other_session(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = (await sign_in(client, account.email)).json()

    response = await client.put(
        "/users/me/password",
        json={"current_password": account.password, "new_password": "a brand new secret"},
        headers=account.headers,
    )

    assert response.status_code == 204
    assert (await client.get("/users/me", headers=bearer(other["access_token"]))).status_code == 401
    assert (await refresh(client, other["refresh_token"])).status_code == 401
    # The session that changed it goes on.
    assert (await client.get("/users/me", headers=account.headers)).status_code == 200
    assert (await sign_in(client, account.email, account.password)).status_code == 401
    assert (await sign_in(client, account.email, "a brand new secret")).status_code == 200


async def test_a_password_change_needs_the_current_password(
    client: httpx.AsyncClient, account: Account
) -> None:
    response = await client.put(
        "/users/me/password",
        json={"current_password": "not the password", "new_password": "a brand new secret"},
        headers=account.headers,
    )

    assert response.status_code == 403
    assert response.json() == {"detail": "The current password is incorrect"}
    assert (await sign_in(client, account.email, account.password)).status_code == 200


async def test_wrong_current_passwords_are_throttled_like_sign_ins(
    client: httpx.AsyncClient, account: Account
) -> None:
    async def change(current: str) -> int:
        response = await client.put(
            "/users/me/password",
            json={"current_password": current, "new_password": "a brand new secret"},
            headers=account.headers,
        )
        return response.status_code

    statuses = [await change(f"guess {n}") for n in range(3)] + [await change(account.password)]

    # The limit is 3 here: the right password, fourth, is not even tried.
    assert statuses == [403, 403, 403, 429]
    assert (await sign_in(client, account.email, "a brand new secret")).status_code == 429


async def test_a_password_change_holds_no_connection_while_hashing(
    committed_app: FastAPI, engine: AsyncEngine
) -> None:
    passwords = committed_app.state.auth.passwords
    held: list[int] = []
    hash_password, verify = passwords.hash, passwords.verify

    async def hashing(password: str) -> str:
        held.append(engine.pool.checkedout())  # type: ignore[attr-defined]
        return str(await hash_password(password))

    async def verifying(password: str, password_hash: str | None) -> Any:
        held.append(engine.pool.checkedout())  # type: ignore[attr-defined]
        return await verify(password, password_hash)

    async with asgi_client(committed_app) as client:
        account = await new_account(client)
        passwords.hash, passwords.verify = hashing, verifying
        response = await client.put(
            "/users/me/password",
            json={"current_password": account.password, "new_password": "a brand new secret"},
            headers=account.headers,
        )

    assert response.status_code == 204
    assert held == [0, 0]


async def test_password_changes_leave_the_pool_to_other_requests_while_they_hash(
    settings: Settings, committed_database: Database
) -> None:
    """Many changes at once on a pool of two: none holds a connection through its slow verification."""
    settings = settings.model_copy(
        # A read waits at most 1.5 s for a connection, and the verifications take 3 s: a change that held
        # its connection through one would make the reads fail; the margins leave room for a loaded machine.
        update={"db_pool_size": 2, "db_max_overflow": 0, "db_pool_timeout": 1.5}
    )
    engine = create_engine(settings)
    app = app_on(settings, Database(engine))
    passwords = app.state.auth.passwords
    verify = passwords.verify

    async def slow_verify(password: str, password_hash: str | None) -> Any:
        await asyncio.sleep(3)  # as a costly Argon2 would take
        return await verify(password, password_hash)

    try:
        async with asgi_client(app) as client:
            accounts = [await new_account(client) for _ in range(4)]
            passwords.verify = slow_verify
            changes = [
                asyncio.create_task(
                    client.put(
                        "/users/me/password",
                        json={"current_password": account.password, "new_password": "a brand new secret"},
                        headers=account.headers,
                    )
                )
                for account in accounts
            ]
            await asyncio.sleep(0.2)
            reads = await asyncio.gather(
                *(client.get("/users/me", headers=account.headers) for account in accounts)
            )
            changed = await asyncio.gather(*changes)
    finally:
        await engine.dispose()

    assert [read.status_code for read in reads] == [200] * 4
    assert [change.status_code for change in changed] == [204] * 4


@pytest.mark.parametrize("new_password", ["k9#Qz", "x" * 129, "with\x00nul", "Sunshine", "12345678"])
async def test_a_new_password_must_follow_the_rules(
    client: httpx.AsyncClient, account: Account, new_password: str
) -> None:
    response = await client.put(
        "/users/me/password",
        json={"current_password": account.password, "new_password": new_password},
        headers=account.headers,
    )

    assert response.status_code == 422
    assert new_password not in response.text


async def test_deleting_the_account_ends_its_sessions(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    deleted = await client.request(
        "DELETE", f"/users/{account.id}", json={"current_password": account.password}, headers=account.headers
    )

    assert deleted.status_code == 204

    assert (await client.get("/users/me", headers=account.headers)).status_code == 401
    assert (await refresh(client, account.refresh_token)).status_code == 401
    assert await session.scalar(select(func.count()).select_from(RefreshToken)) == 0
