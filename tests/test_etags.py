"""A user's ETag changes exactly when what the API shows of the user does, whatever path wrote the change:
the routes, the jobs they queue, and the commands. One rule (inkwell.versioned): a change to anything
shown adds one to `version` and sets `updated_at`; a change to nothing shown (a password hash) touches
neither."""

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr
from sqlalchemy import update

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.job_handlers import JOBS
from inkwell.jobs import service as jobs
from inkwell.jobs.context import JobContext
from inkwell.jobs.runner import Outcome, attempt
from inkwell.mail.sender import create_mailer
from inkwell.orm import table_of, utcnow
from inkwell.users.models import User
from tests.accounts import SIGNED_IN_ENV, Account, new_account, sign_in
from tests.apps import app_on, asgi_client
from tests.auth.mail.test_email_flows import token_in
from tests.commands import run_here
from tests.smtp import MailSink

NEW_PASSWORD = "a brand new passphrase"
AGAIN = "yet another passphrase"
# What each path must do to what the API shows: True where it changes it (and so the ETag).
EXPECTED = {
    "PATCH name": True,
    "PATCH nothing": False,
    "verify the email": True,
    "ask for a new email": False,  # only pending until the mailed token comes back
    "confirm the new email": True,  # and verified (the mailed token proves it)
    "change the password": False,
    "reset the password": False,
    "sign in, rehashing an old hash": False,
    "inkwell users set-admin": True,
    "inkwell users set-admin --revoke": True,
}
Step = Callable[[], Awaitable[Any]]


@pytest.fixture
def mail_settings(settings: Settings, mail: MailSink) -> Settings:
    return settings.model_copy(update={"smtp_url": SecretStr(mail.url)})


@pytest.fixture
def app(mail_settings: Settings, committed_database: Database) -> FastAPI:
    return app_on(mail_settings, committed_database)


@pytest.fixture
def ctx(mail_settings: Settings, committed_database: Database) -> JobContext:
    return JobContext(mail_settings, committed_database, create_mailer(mail_settings), JOBS)


async def shown(client: httpx.AsyncClient, account: Account) -> tuple[dict[str, Any], str]:
    """What the API shows the account of itself (but the pending address, which is not the user's), and
    the user's ETag."""
    me = await client.get("/users/me", headers=account.headers)
    assert me.status_code == 200, me.text
    body = {key: value for key, value in me.json().items() if key != "pending_email"}
    user = await client.get(f"/users/{account.id}", headers=account.headers)
    assert user.status_code == 200, user.text
    return body, user.headers["ETag"]


async def mailed_token(ctx: JobContext, mail: MailSink) -> str:
    async with ctx.database.reads() as tx:
        job_ids = await jobs.due_job_ids(tx, now=utcnow(), limit=10)
    for job_id in job_ids:
        assert await attempt(ctx, job_id) is Outcome.DONE
    return token_in(mail.messages[-1])


def command(database_url: str, *args: str) -> Step:
    """Run `inkwell ARGS` on the database, in a thread (each command runs its own event loop)."""
    env = {**os.environ, **SIGNED_IN_ENV, "DATABASE_URL": database_url}

    async def run() -> None:
        ran = await asyncio.to_thread(run_here, env, *args)
        assert ran.returncode == 0, ran.stderr

    return run


async def test_the_etag_changes_exactly_when_what_the_api_shows_does(
    app: FastAPI, ctx: JobContext, mail: MailSink, committed_database: Database, database_url: str
) -> None:
    async with asgi_client(app) as client:
        account = await new_account(client)

        async def patch(body: dict[str, Any]) -> None:
            response = await client.patch(f"/users/{account.id}", json=body, headers=account.headers)
            assert response.status_code in (200, 202), response.text

        async def confirm_email() -> None:
            token = await mailed_token(ctx, mail)
            assert (await client.post("/auth/confirm-email", json={"token": token})).status_code == 204
            # Confirming ends every session: sign in again, with the new address.
            account.email = "renamed@example.com"
            account.access_token = (await sign_in(client, account.email, account.password)).json()[
                "access_token"
            ]

        async def verify_email() -> None:
            assert (await client.post("/auth/verify/request", headers=account.headers)).status_code == 202
            token = await mailed_token(ctx, mail)
            assert (await client.post("/auth/verify", json={"token": token})).status_code == 204

        async def change_password() -> None:
            body = {"current_password": account.password, "new_password": NEW_PASSWORD}
            response = await client.put("/users/me/password", json=body, headers=account.headers)
            assert response.status_code == 204, response.text
            account.password = NEW_PASSWORD

        async def reset_password() -> None:
            assert (
                await client.post("/auth/forgot-password", json={"email": account.email})
            ).status_code == 202
            token = await mailed_token(ctx, mail)
            body = {"token": token, "new_password": AGAIN}
            assert (await client.post("/auth/reset-password", json=body)).status_code == 204
            account.password = AGAIN
            account.access_token = (await sign_in(client, account.email, AGAIN)).json()["access_token"]

        async def sign_in_with_an_old_hash() -> None:
            # A hash made with other Argon2 parameters (an older configuration), stored as it was then.
            old_hash = Argon2Hasher(time_cost=2, memory_cost=8, parallelism=1).hash(account.password)
            async with committed_database.transaction() as tx:
                users = table_of(User)
                await tx.connection.execute(
                    update(users).where(users.c.id == account.id).values(password_hash=old_hash)
                )
            before = await shown(client, account)
            response = await sign_in(client, account.email, account.password)
            assert response.status_code == 200, response.text
            account.access_token = response.json()["access_token"]
            assert before == await shown(client, account), "storing the old hash changed nothing shown"

        steps: dict[str, Step] = {
            "PATCH name": lambda: patch({"name": "Grace"}),
            "PATCH nothing": lambda: patch({}),
            "verify the email": verify_email,
            "ask for a new email": lambda: patch(
                {"email": "renamed@example.com", "current_password": account.password}
            ),
            "confirm the new email": confirm_email,
            "change the password": change_password,
            "reset the password": reset_password,
            "sign in, rehashing an old hash": sign_in_with_an_old_hash,
            "inkwell users set-admin": lambda: command(database_url, "users", "set-admin", account.email)(),
            "inkwell users set-admin --revoke": lambda: command(
                database_url, "users", "set-admin", "--revoke", account.email
            )(),
        }
        changed: dict[str, bool] = {}
        for name, step in steps.items():
            body, etag = await shown(client, account)
            await step()
            body_after, etag_after = await shown(client, account)
            assert (body_after != body) == (etag_after != etag), (
                f"{name}: {body} -> {body_after}, {etag} -> {etag_after}"
            )
            changed[name] = etag_after != etag

    assert changed == EXPECTED


async def test_a_new_user_has_the_etag_of_its_first_version_however_it_was_made(
    app: FastAPI, database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "users.jsonl"
    source.write_text(json.dumps({"email": "imported@example.com", "name": "Imported"}) + "\n")
    await command(database_url, "users", "import", str(source))()

    async with asgi_client(app) as client:
        account = await new_account(client)
        signed_up = await client.get(f"/users/{account.id}", headers=account.headers)
        listed = await client.get("/users", headers=account.headers)
        imported = next(user for user in listed.json() if user["name"] == "Imported")
        fetched = await client.get(f"/users/{imported['id']}", headers=account.headers)

    assert signed_up.headers["ETag"] == f'"{account.id}-1"'
    assert fetched.headers["ETag"] == f'"{imported["id"]}-1"'
