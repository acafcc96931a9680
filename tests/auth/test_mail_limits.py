"""Mails asked for are limited per address mailed to and per client address: nobody floods an inbox,
and nobody keeps its owner from being answered."""

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from inkwell.auth.emails import SEND_PASSWORD_RESET
from inkwell.db import Database
from inkwell.jobs.models import OutboxJob
from inkwell.users.models import User
from tests.accounts import PASSWORD, new_account
from tests.apps import asgi_client

LIMIT = 3  # mails to one address an hour, by default
PER_CLIENT = 10  # mails asked for from one client address an hour, by default


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/auth/forgot-password", json={"email": email})


@pytest.mark.parametrize("email", ["member@example.com", "nobody@example.com"])
async def test_reset_mails_for_one_address_are_limited_whether_or_not_it_has_an_account(
    app: FastAPI, session: AsyncSession, email: str
) -> None:
    async with asgi_client(app) as client:
        member = {"email": "member@example.com", "name": "M", "password": PASSWORD}
        assert (await client.post("/users", json=member)).status_code == 201
    answers = []
    for number in range(LIMIT + 2):
        # From a new client address each time: the limit on the address mailed to is what stops it.
        async with asgi_client(app, address=f"198.51.100.{number + 1}") as client:
            answers.append(await forgot(client, email))

    # Everyone gets the same answer, the owner included, whatever others asked for before...
    assert [a.status_code for a in answers] == [202] * (LIMIT + 2)
    assert len({a.text for a in answers}) == 1
    # ...but the inbox gets no more than its share of mail.
    assert await reset_jobs(session) == LIMIT


async def reset_jobs(executor: AsyncSession | AsyncConnection) -> int:
    query = select(func.count()).select_from(OutboxJob).where(OutboxJob.name == SEND_PASSWORD_RESET)
    return await executor.scalar(query) or 0


# Other spellings of member@example.com that MariaDB's collation takes for it (it ignores accents).
OTHER_SPELLINGS = ["mémber@example.com", "membér@example.com", "member@éxample.com", "mèmbèr@example.com"]


async def test_other_spellings_of_an_inbox_share_its_limit(
    throttled_app: FastAPI, session: AsyncSession
) -> None:
    async with asgi_client(throttled_app) as client:
        member = {"email": "member@example.com", "name": "M", "password": PASSWORD}
        assert (await client.post("/users", json=member)).status_code == 201
    taken = [await session.scalar(select(User.id).where(User.email == s)) for s in OTHER_SPELLINGS]
    answers = []
    for number, spelling in enumerate(OTHER_SPELLINGS):
        async with asgi_client(throttled_app, address=f"198.51.100.{number + 60}") as client:
            answers.append(await forgot(client, spelling))

    assert [a.status_code for a in answers] == [202] * len(OTHER_SPELLINGS)
    # Where the database takes every spelling for the member's address, the inbox gets only its share.
    assert await reset_jobs(session) == (LIMIT if all(taken) else len(OTHER_SPELLINGS))


async def test_one_client_may_not_ask_for_mail_to_many_addresses(app: FastAPI) -> None:
    async with asgi_client(app, address="203.0.113.9") as client:
        answers = [await forgot(client, f"target{n}@example.com") for n in range(PER_CLIENT + 1)]

    assert [a.status_code for a in answers] == [202] * PER_CLIENT + [429]
    assert answers[-1].json() == {"detail": "Too many mails asked for; try again later"}
    assert int(answers[-1].headers["Retry-After"]) > 0


async def test_concurrent_requests_from_many_clients_never_mail_one_inbox_more_than_its_share(
    committed_app: FastAPI, committed_database: Database
) -> None:
    """Each from a client address of its own, so that nothing but the inbox's count stands between them."""

    async def forgot_from(number: int) -> httpx.Response:
        async with asgi_client(committed_app, address=f"203.0.113.{number + 20}") as client:
            return await forgot(client, "raced@example.com")

    answers = await asyncio.gather(*(forgot_from(number) for number in range(PER_CLIENT)))

    assert {a.status_code for a in answers} == {202}
    async with committed_database.transaction() as tx:
        assert await reset_jobs(tx.connection) == LIMIT


async def test_concurrent_requests_from_one_client_never_pass_its_limit(
    committed_app: FastAPI, committed_database: Database
) -> None:
    async with asgi_client(committed_app, address="203.0.113.10") as client:
        answers = await asyncio.gather(
            *(forgot(client, f"target{number}@example.com") for number in range(PER_CLIENT + 5))
        )

    assert sorted(a.status_code for a in answers) == [202] * PER_CLIENT + [429] * 5
    async with committed_database.transaction() as tx:
        assert await reset_jobs(tx.connection) == PER_CLIENT


async def test_verification_mails_are_limited_too(client: httpx.AsyncClient) -> None:
    account = await new_account(client)

    statuses = [
        (await client.post("/auth/verify/request", headers=account.headers)).status_code
        for _ in range(LIMIT + 1)
    ]

    assert statuses == [202] * LIMIT + [429]


async def test_email_change_mails_are_limited_too(app: FastAPI) -> None:
    statuses = []
    for number in range(LIMIT + 1):
        # A new account each time, from a new client address: the limit on the new address stops it.
        async with asgi_client(app, address=f"198.51.100.{number + 1}") as client:
            account = await new_account(client)
            body = {"email": "wanted@example.com", "current_password": account.password}
            response = await client.patch(f"/users/{account.id}", json=body, headers=account.headers)
            statuses.append(response.status_code)

    assert statuses == [202] * LIMIT + [429]


async def test_one_client_may_not_ask_for_many_email_changes(client: httpx.AsyncClient) -> None:
    account = await new_account(client)
    body = {"current_password": account.password}

    statuses = [
        (
            await client.patch(
                f"/users/{account.id}", json={**body, "email": f"new{n}@example.com"}, headers=account.headers
            )
        ).status_code
        for n in range(PER_CLIENT + 1)
    ]

    assert statuses == [202] * PER_CLIENT + [429]
