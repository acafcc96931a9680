"""Mails asked for are limited per address mailed to and per client address: nobody floods an inbox."""

import httpx
import pytest
from fastapi import FastAPI

from tests.accounts import new_account
from tests.apps import asgi_client

LIMIT = 3  # the default per hour


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/auth/forgot-password", json={"email": email})


@pytest.mark.parametrize("email", ["member@example.com", "nobody@example.com"])
async def test_reset_mails_for_one_address_are_limited_whether_or_not_it_has_an_account(
    secure_app: FastAPI, email: str
) -> None:
    async with asgi_client(secure_app) as client:
        await client.post(
            "/users", json={"email": "member@example.com", "name": "M", "password": "password123"}
        )
    answers = []
    for number in range(LIMIT + 1):
        # From a new client address each time: the limit on the address mailed to is what stops it.
        async with asgi_client(secure_app, address=f"198.51.100.{number + 1}") as client:
            answers.append(await forgot(client, email))

    assert [a.status_code for a in answers] == [202] * LIMIT + [429]
    assert answers[-1].json() == {"detail": "Too many mails asked for; try again later"}
    assert int(answers[-1].headers["Retry-After"]) > 0


async def test_one_client_may_not_ask_for_mail_to_many_addresses(secure_app: FastAPI) -> None:
    async with asgi_client(secure_app, address="203.0.113.9") as client:
        statuses = [(await forgot(client, f"target{n}@example.com")).status_code for n in range(LIMIT + 1)]

    assert statuses == [202] * LIMIT + [429]


async def test_verification_mails_are_limited_too(secure_client: httpx.AsyncClient) -> None:
    account = await new_account(secure_client)

    statuses = [
        (await secure_client.post("/auth/verify/request", headers=account.headers)).status_code
        for _ in range(LIMIT + 1)
    ]

    assert statuses == [202] * LIMIT + [429]
