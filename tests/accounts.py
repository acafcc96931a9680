"""Signing up and in through the API, for tests of sign-in."""

from dataclasses import dataclass
from itertools import count
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.users.models import User

# Argon2id at its lowest cost: tests check what hashing does, not how long it takes.
CHEAP_HASHING_ENV = {
    "INKWELL_PASSWORD_TIME_COST": "1",
    "INKWELL_PASSWORD_MEMORY_KIB": "8",
    "INKWELL_PASSWORD_PARALLELISM": "1",
}
TEST_SECRET_KEY = "3f9c1d7be0a24c5e8b6f4d2a91c07e5b-tests-only"
PASSWORD = "correct horse battery"
# The mode of an `inkwell` process, stated in its environment: sign-in on (as users get it), or off.
SIGNED_IN_ENV = {"INKWELL_AUTH": "on", "INKWELL_SECRET_KEY": TEST_SECRET_KEY}
OPEN_ENV = {"INKWELL_AUTH": "off"}

_sequence = count(1)


@dataclass
class Account:
    id: int
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_up(
    client: httpx.AsyncClient, *, password: str = PASSWORD, name: str = "Ada"
) -> tuple[int, str]:
    email = f"member{next(_sequence)}@example.com"
    response = await client.post("/users", json={"email": email, "name": name, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["id"], email


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/auth/token", data={"username": email, "password": password})


async def new_account(client: httpx.AsyncClient, *, password: str = PASSWORD) -> Account:
    """A user signed up and signed in."""
    user_id, email = await sign_up(client, password=password)
    response = await sign_in(client, email, password)
    assert response.status_code == 200, response.text
    tokens = response.json()
    return Account(user_id, email, password, tokens["access_token"], tokens["refresh_token"])


async def make_admin(session: AsyncSession, account: Account) -> Account:
    """The account, made an admin (as `inkwell users set-admin` would)."""
    user = await session.get(User, account.id)
    assert user is not None
    user.is_admin = True
    await session.commit()
    return account


def count_verifications(app: FastAPI) -> list[str]:
    """Every password the app verifies from now on (the real verification still runs)."""
    passwords = app.state.auth.passwords
    verify = passwords.verify
    verified: list[str] = []

    async def counted(password: str, password_hash: str | None) -> Any:
        verified.append(password)
        return await verify(password, password_hash)

    passwords.verify = counted
    return verified
