"""A stolen access token alone cannot move an account to another email, nor delete it: both ask for the
password of whoever is signed in, as a sign-in would, and count against the same limits."""

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tests.accounts import Account, count_verifications, make_admin, new_account, sign_in
from tests.apps import asgi_client

WRONG = {"detail": "The current password is incorrect"}


async def change_email(
    client: httpx.AsyncClient, account: Account, email: str, **password: str
) -> httpx.Response:
    body = {"email": email, **password}
    return await client.patch(f"/users/{account.id}", json=body, headers=account.headers)


async def delete(client: httpx.AsyncClient, account: Account, as_who: Account, body: Any) -> httpx.Response:
    return await client.request("DELETE", f"/users/{account.id}", json=body, headers=as_who.headers)


async def email_of(client: httpx.AsyncClient, account: Account) -> str:
    email = (await client.get("/users/me", headers=account.headers)).json()["email"]
    assert isinstance(email, str)
    return email


async def test_a_new_email_needs_the_current_password(client: httpx.AsyncClient, account: Account) -> None:
    missing = await change_email(client, account, "mallory@example.com")
    wrong = await change_email(client, account, "mallory@example.com", current_password="guess")

    assert missing.status_code == 422
    assert missing.json()["detail"][0]["type"] == "current_password_missing"
    assert (wrong.status_code, wrong.json()) == (403, WRONG)
    assert await email_of(client, account) == account.email


async def test_other_changes_need_no_password(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.patch(
        f"/users/{account.id}", json={"name": "Grace", "bio": None}, headers=account.headers
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Grace"


async def test_deleting_the_account_needs_the_current_password(
    client: httpx.AsyncClient, account: Account
) -> None:
    missing = await client.delete(f"/users/{account.id}", headers=account.headers)
    wrong = await delete(client, account, account, {"current_password": "guess"})
    still_there = await client.get("/users/me", headers=account.headers)
    right = await delete(client, account, account, {"current_password": account.password})

    assert missing.status_code == 422
    assert (wrong.status_code, wrong.json()) == (403, WRONG)
    assert still_there.status_code == 200
    assert right.status_code == 204


async def test_an_admin_gives_their_own_password_for_another_account(
    client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    admin = await make_admin(session, await new_account(client, password="the admin's password"))

    with_the_owners = await delete(client, account, admin, {"current_password": account.password})
    with_their_own = await delete(client, account, admin, {"current_password": admin.password})

    assert (with_the_owners.status_code, with_the_owners.json()) == (403, WRONG)
    assert with_their_own.status_code == 204


async def test_wrong_passwords_are_throttled_like_sign_ins(
    client: httpx.AsyncClient, account: Account
) -> None:
    statuses = [
        (await change_email(client, account, "m@example.com", current_password=f"guess {n}")).status_code
        for n in range(2)
    ]
    statuses.append((await delete(client, account, account, {"current_password": "guess"})).status_code)
    statuses.append(
        (await delete(client, account, account, {"current_password": account.password})).status_code
    )

    # The limit is 3 here: the right password, fourth, is not even tried.
    assert statuses == [403, 403, 403, 429]
    assert (await sign_in(client, account.email)).status_code == 429
    assert (await client.get("/users/me", headers=account.headers)).status_code == 200


async def test_the_password_is_checked_after_whose_account_it_is(
    client: httpx.AsyncClient, account: Account
) -> None:
    other = await new_account(client)

    anonymous = await client.delete(f"/users/{account.id}")
    not_theirs = await delete(client, account, other, None)

    assert anonymous.status_code == 401
    assert not_theirs.status_code == 403
    assert not_theirs.json() == {"detail": "Only the account's owner or an admin may do this"}


async def test_a_new_email_for_another_account_is_refused_before_any_password_is_tried(
    app: FastAPI, client: httpx.AsyncClient, account: Account
) -> None:
    other = await new_account(client)
    verified = count_verifications(app)

    response = await client.patch(
        f"/users/{account.id}",
        json={"email": "mallory@example.com", "current_password": other.password},
        headers=other.headers,
    )

    assert response.status_code == 403
    assert response.json() == {"detail": "Only the account's owner or an admin may do this"}
    assert verified == []
    assert await email_of(client, account) == account.email


async def test_a_change_without_a_new_email_takes_one_connection(
    committed_app: FastAPI, engine: AsyncEngine
) -> None:
    """The viewer is read in the request's own transaction when no password is to be verified first."""
    checkouts: list[object] = []

    def taken(*connection: object) -> None:
        checkouts.append(connection)

    async with asgi_client(committed_app) as client:
        account = await new_account(client)
        event.listen(engine.sync_engine.pool, "checkout", taken)
        try:
            response = await client.patch(
                f"/users/{account.id}", json={"bio": "one connection"}, headers=account.headers
            )
        finally:
            event.remove(engine.sync_engine.pool, "checkout", taken)

    assert response.status_code == 200
    assert len(checkouts) == 1


async def test_a_password_is_never_echoed(client: httpx.AsyncClient, account: Account) -> None:
    response = await change_email(client, account, "not an address", current_password="hunter2-x")

    assert response.status_code == 422
    assert "hunter2-x" not in response.text


@pytest.mark.parametrize("change", ["email", "delete"])
async def test_the_password_is_verified_holding_no_connection(
    committed_app: FastAPI, engine: AsyncEngine, change: str
) -> None:
    passwords = committed_app.state.auth.passwords
    held: list[int] = []
    verify = passwords.verify

    async def verifying(password: str, password_hash: str | None) -> Any:
        held.append(engine.pool.checkedout())  # type: ignore[attr-defined]
        return await verify(password, password_hash)

    async with asgi_client(committed_app) as client:
        account = await new_account(client)
        passwords.verify = verifying
        if change == "email":
            response = await change_email(
                client, account, "new@example.com", current_password=account.password
            )
        else:
            response = await delete(client, account, account, {"current_password": account.password})

    assert response.status_code < 300, response.text
    assert held == [0]


async def with_wrong_password(client: httpx.AsyncClient, account: Account, change: str) -> int:
    wrong = {"current_password": "not the password"}
    if change == "password":
        body = {**wrong, "new_password": "a brand new secret"}
        response = await client.put("/users/me/password", json=body, headers=account.headers)
    elif change == "email":
        response = await change_email(client, account, "new@example.com", **wrong)
    else:
        response = await delete(client, account, account, wrong)
    return response.status_code


@pytest.mark.parametrize("change", ["password", "email", "delete"])
async def test_concurrent_wrong_passwords_never_verify_more_than_the_limit(
    committed_app: FastAPI, change: str
) -> None:
    async with asgi_client(committed_app, address="198.51.100.31") as client:
        account = await new_account(client)
        verified = count_verifications(committed_app)
        statuses = await asyncio.gather(*(with_wrong_password(client, account, change) for _ in range(15)))

    assert sorted(statuses) == [403] * 3 + [429] * 12
    assert len(verified) == 3


async def test_with_sign_in_off_no_password_is_asked(open_client: httpx.AsyncClient) -> None:
    user = (await open_client.post("/users", json={"email": "open@example.com", "name": "Open"})).json()

    changed = await open_client.patch(f"/users/{user['id']}", json={"email": "moved@example.com"})
    deleted = await open_client.delete(f"/users/{user['id']}")

    assert changed.status_code == 200
    assert changed.json()["email"] == "moved@example.com"
    assert deleted.status_code == 204


async def test_the_openapi_document_asks_for_the_password(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    user = document["paths"]["/users/{user_id}"]
    schemas = document["components"]["schemas"]

    assert schemas["AccountUpdate"]["dependentRequired"] == {"email": ["current_password"]}
    assert "current_password" not in schemas["AccountUpdate"].get("required", [])
    deletion = user["delete"]["requestBody"]
    assert deletion["required"] is True
    assert deletion["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CurrentPassword"
    }
    assert schemas["CurrentPassword"]["required"] == ["current_password"]
    for operation in (user["patch"], user["delete"]):
        assert {"403", "422", "429"} <= set(operation["responses"])
