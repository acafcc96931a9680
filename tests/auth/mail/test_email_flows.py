"""Email verification and password reset, end to end: request, job, mail on a real SMTP server, token."""

import asyncio
import io
import json
import re
from datetime import timedelta
from email.message import Message

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.auth import service as auth
from inkwell.auth import tokens
from inkwell.auth.models import AccountToken, TokenPurpose
from inkwell.auth.tokens import token_digest
from inkwell.config import Settings
from inkwell.db import Database
from inkwell.job_handlers import JOBS
from inkwell.jobs import service as jobs
from inkwell.jobs.context import JobContext
from inkwell.jobs.models import JobStatus, OutboxJob
from inkwell.jobs.runner import Outcome, attempt
from inkwell.logs import configure_logging
from inkwell.mail.sender import create_mailer
from inkwell.orm import utcnow
from inkwell.users import service as users
from inkwell.users.schemas import UserFields
from tests.accounts import PASSWORD, Account, bearer, make_admin, new_account, sign_in
from tests.apps import app_on, asgi_client
from tests.auth.mail.conftest import PUBLIC_URL
from tests.smtp import MailSink

NEW_PASSWORD = "a brand new passphrase"
REFUSED = {"detail": "Invalid or expired token"}
TOKEN_LINE = re.compile(r"^Token: (\S+)", re.MULTILINE)


async def run_jobs(ctx: JobContext) -> int:
    """Run every due job once, as the worker would; how many ran."""
    async with ctx.database.transaction() as tx:
        job_ids = await jobs.due_job_ids(tx, now=utcnow(), limit=100)
    for job_id in job_ids:
        assert await attempt(ctx, job_id) is Outcome.DONE
    return len(job_ids)


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def token_in(message: Message) -> str:
    found = TOKEN_LINE.search(body_of(message))
    assert found is not None, body_of(message)
    return found.group(1)


async def mailed_token(ctx: JobContext, mail: MailSink, *, to: str) -> str:
    """Run the jobs, and the token of the one new message, which must be for `to`."""
    before = len(mail.messages)
    await run_jobs(ctx)
    assert len(mail.messages) == before + 1
    message = mail.messages[-1]
    assert message["X-Rcpt-To"] == to
    return token_in(message)


async def verification_token(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, account: Account
) -> str:
    response = await client.post("/auth/verify/request", headers=account.headers)
    assert response.status_code == 202, response.text
    return await mailed_token(ctx, mail, to=account.email)


async def reset_token(client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, email: str) -> str:
    response = await client.post("/auth/forgot-password", json={"email": email})
    assert response.status_code == 202, response.text
    return await mailed_token(ctx, mail, to=email)


async def is_verified(client: httpx.AsyncClient, account: Account) -> bool:
    response = await client.get("/users/me", headers=account.headers)
    assert response.status_code == 200, response.text
    verified = response.json()["email_verified"]
    assert isinstance(verified, bool)
    return verified


async def verify_email(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/verify", json={"token": token})


async def reset(client: httpx.AsyncClient, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post("/auth/reset-password", json={"token": token, "new_password": password})


async def ask_for_email(client: httpx.AsyncClient, account: Account, email: str) -> httpx.Response:
    """PATCH a new email onto the account, with its password."""
    body = {"email": email, "current_password": account.password}
    return await client.patch(f"/users/{account.id}", json=body, headers=account.headers)


async def change_token(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, account: Account, email: str
) -> str:
    response = await ask_for_email(client, account, email)
    assert response.status_code == 202, response.text
    return await mailed_token(ctx, mail, to=email)


async def confirm(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/auth/confirm-email", json={"token": token})


async def moved(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, account: Account, email: str
) -> Account:
    """The account moved to `email` by the whole flow (the notice to the old address sent), signed in
    again: the change ended its sessions."""
    token = await change_token(client, ctx, mail, account, email)
    assert (await confirm(client, token)).status_code == 204
    assert await mailed_notice(ctx, mail, to=account.email)
    tokens = (await sign_in(client, email, account.password)).json()
    return Account(account.id, email, account.password, tokens["access_token"], tokens["refresh_token"])


async def mailed_notice(ctx: JobContext, mail: MailSink, *, to: str) -> str:
    """Run the jobs, and the body of the one new message, which must be for `to` and hold no token."""
    before = len(mail.messages)
    await run_jobs(ctx)
    assert len(mail.messages) == before + 1
    message = mail.messages[-1]
    assert message["X-Rcpt-To"] == to
    assert TOKEN_LINE.search(body_of(message)) is None
    return body_of(message)


async def pending_email(client: httpx.AsyncClient, account: Account) -> str | None:
    response = await client.get("/users/me", headers=account.headers)
    assert response.status_code == 200, response.text
    pending = response.json()["pending_email"]
    assert pending is None or isinstance(pending, str)
    return pending


async def expire_tokens(database: Database) -> None:
    async with database.transaction() as tx:
        await tx.connection.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(seconds=1)))


async def test_a_verification_mail_verifies_the_address_once(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    assert await is_verified(client, account) is False

    response = await client.post("/auth/verify/request", headers=account.headers)

    assert response.status_code == 202
    assert response.json() == {
        "detail": "A message with a verification token is on its way to your email address"
    }
    assert mail.messages == []  # the request only wrote the job
    assert await run_jobs(ctx) == 1
    [message] = mail.messages
    assert (message["To"], message["X-Rcpt-To"]) == (account.email, account.email)
    assert message["Subject"] == "Verify your email address for Inkwell"
    token = token_in(message)
    assert f"curl -X POST {PUBLIC_URL}/auth/verify " in body_of(message)
    assert f'{{"token": "{token}"}}' in body_of(message)

    first = await verify_email(client, token)
    second = await verify_email(client, token)

    assert first.status_code == 204, first.text
    assert (second.status_code, second.json()) == (400, REFUSED)
    assert await is_verified(client, account) is True
    public = (await client.get(f"/users/{account.id}", headers=account.headers)).json()
    assert "email_verified" not in public


async def test_a_verification_needs_a_signed_in_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/verify/request")

    assert response.status_code == 401


async def test_a_reset_mail_sets_the_password_once_and_ends_every_session(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    other = (await sign_in(client, account.email)).json()  # a second session, elsewhere

    response = await client.post("/auth/forgot-password", json={"email": account.email.upper()})

    assert response.status_code == 202
    assert mail.messages == []
    token = await mailed_token(ctx, mail, to=account.email)
    [message] = mail.messages
    assert message["Subject"] == "Reset your Inkwell password"
    assert f"curl -X POST {PUBLIC_URL}/auth/reset-password " in body_of(message)

    first = await reset(client, token)
    second = await reset(client, token, "yet another passphrase")

    assert first.status_code == 204, first.text
    assert (second.status_code, second.json()) == (400, REFUSED)
    for access_token in (account.access_token, other["access_token"]):
        assert (await client.get("/users/me", headers=bearer(access_token))).status_code == 401
    for refresh_token in (account.refresh_token, other["refresh_token"]):
        refreshed = await client.post("/auth/refresh", json={"refresh_token": refresh_token})
        assert refreshed.status_code == 401
    assert (await sign_in(client, account.email)).status_code == 401
    assert (await sign_in(client, account.email, NEW_PASSWORD)).status_code == 200


async def test_a_reset_to_a_common_password_is_422_and_leaves_the_token_unused(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    token = await reset_token(client, ctx, mail, account.email)

    refused = await reset(client, token, "Trustno1")

    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "new_password"]
    assert "Trustno1" not in refused.text
    assert (await reset(client, token)).status_code == 204


async def test_a_reset_spends_the_other_reset_tokens_of_the_account(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    older = await reset_token(client, ctx, mail, account.email)
    newer = await reset_token(client, ctx, mail, account.email)

    assert (await reset(client, newer)).status_code == 204
    assert (await reset(client, older)).status_code == 400


async def test_a_password_change_spends_the_reset_tokens_mailed_before_it(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    token = await reset_token(client, ctx, mail, account.email)

    changed = await client.put(
        "/users/me/password",
        json={"current_password": account.password, "new_password": NEW_PASSWORD},
        headers=account.headers,
    )

    assert changed.status_code == 204
    assert (await reset(client, token, "what the thief wanted")).status_code == 400
    assert (await sign_in(client, account.email, NEW_PASSWORD)).status_code == 200


async def test_forgot_password_answers_an_unknown_email_exactly_as_a_known_one(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, database: Database
) -> None:
    account = await new_account(client)

    known = await client.post("/auth/forgot-password", json={"email": account.email})
    unknown = await client.post("/auth/forgot-password", json={"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert known.json() == {
        "detail": "If an account has this email address, a message with a reset token is on its way to it"
    }

    def headers(response: httpx.Response) -> dict[str, str]:
        return {name: value for name, value in response.headers.items() if name != "x-request-id"}

    assert headers(known) == headers(unknown)
    assert await run_jobs(ctx) == 2
    assert [message["X-Rcpt-To"] for message in mail.messages] == [account.email]
    async with database.transaction() as tx:
        outbox = (await tx.connection.execute(select(OutboxJob))).all()
        tokens = (await tx.connection.execute(select(AccountToken))).all()
    assert [job.status for job in outbox] == [JobStatus.DONE, JobStatus.DONE]
    assert [token.user_id for token in tokens] == [account.id]


@pytest.mark.parametrize("flow", ["verify", "reset"])
async def test_an_expired_token_is_refused(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, database: Database, flow: str
) -> None:
    account = await new_account(client)
    if flow == "verify":
        token = await verification_token(client, ctx, mail, account)
    else:
        token = await reset_token(client, ctx, mail, account.email)
    await expire_tokens(database)

    if flow == "verify":
        response = await verify_email(client, token)
    else:
        response = await reset(client, token)

    assert (response.status_code, response.json()) == (400, REFUSED)
    assert await is_verified(client, account) is False
    assert (await client.get("/users/me", headers=account.headers)).status_code == 200


async def test_tokens_expire_after_their_configured_lifetimes(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, database: Database
) -> None:
    account = await new_account(client)
    before = utcnow()
    await verification_token(client, ctx, mail, account)
    await reset_token(client, ctx, mail, account.email)
    await change_token(client, ctx, mail, account, "new@example.com")

    async with database.transaction() as tx:
        rows = {row.purpose: row for row in await tx.connection.execute(select(AccountToken))}

    settings = ctx.settings
    assert (settings.verify_token_ttl, settings.reset_token_ttl) == (24 * 3600, 3600)
    lifetimes = {
        TokenPurpose.VERIFY_EMAIL: 24 * 3600,
        TokenPurpose.RESET_PASSWORD: 3600,
        TokenPurpose.CHANGE_EMAIL: 3600,  # it moves the account as a reset would
    }
    for purpose, ttl in lifetimes.items():
        lifetime = rows[purpose].expires_at - rows[purpose].created_at
        assert lifetime == timedelta(seconds=ttl)
        assert rows[purpose].created_at >= before - timedelta(seconds=1)


async def test_a_token_is_refused_for_the_other_purpose_and_still_works_for_its_own(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    verify = await verification_token(client, ctx, mail, account)
    reset_with = await reset_token(client, ctx, mail, account.email)
    # Another account's: a new email for this one would void its other two tokens.
    other = await new_account(client)
    change = await change_token(client, ctx, mail, other, "new@example.com")

    crossed = [
        await reset(client, verify),
        await reset(client, change),
        await verify_email(client, reset_with),
        await verify_email(client, change),
        await confirm(client, verify),
        await confirm(client, reset_with),
    ]

    assert [(answer.status_code, answer.json()) for answer in crossed] == [(400, REFUSED)] * 6
    assert (await verify_email(client, verify)).status_code == 204
    assert (await reset(client, reset_with)).status_code == 204
    assert (await confirm(client, change)).status_code == 204


async def test_every_refused_token_gets_the_same_answer(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, database: Database
) -> None:
    account = await new_account(client)
    used = await verification_token(client, ctx, mail, account)
    wrong_purpose = await reset_token(client, ctx, mail, account.email)
    expired = await verification_token(client, ctx, mail, account)
    assert (await verify_email(client, used)).status_code == 204
    async with database.transaction() as tx:
        await tx.connection.execute(
            update(AccountToken)
            .where(AccountToken.token_hash == token_digest(expired))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    answers = [
        await verify_email(client, token) for token in ("never-issued", used, wrong_purpose, expired, "")
    ]

    assert {(answer.status_code, answer.content) for answer in answers} == {(400, answers[0].content)}
    assert answers[0].json() == REFUSED


async def test_every_refused_email_change_token_gets_the_same_answer(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, database: Database
) -> None:
    account = await new_account(client)
    verify = await verification_token(client, ctx, mail, account)
    expired = await change_token(client, ctx, mail, account, "first@example.com")
    await expire_tokens(database)
    used = await change_token(client, ctx, mail, account, "second@example.com")
    assert (await confirm(client, used)).status_code == 204

    answers = [await confirm(client, token) for token in ("never-issued", verify, expired, used, "")]

    assert {(answer.status_code, answer.content) for answer in answers} == {(400, answers[0].content)}
    assert answers[0].json() == REFUSED


async def test_a_token_only_works_while_the_account_has_the_address_it_was_sent_to(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    verify = await verification_token(client, ctx, mail, account)
    reset_with = await reset_token(client, ctx, mail, account.email)

    account = await moved(client, ctx, mail, account, "moved@example.com")

    assert (await verify_email(client, verify)).status_code == 400
    assert (await reset(client, reset_with)).status_code == 400


async def test_a_confirmed_email_is_verified_and_sending_the_same_one_changes_nothing(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    token = await verification_token(client, ctx, mail, account)
    assert (await verify_email(client, token)).status_code == 204

    same = await client.patch(
        f"/users/{account.id}",
        json={"email": account.email.upper(), "name": "Ada", "current_password": account.password},
        headers=account.headers,
    )

    assert same.status_code == 200, same.text
    assert await run_jobs(ctx) == 0
    assert await is_verified(client, account) is True
    account = await moved(client, ctx, mail, account, "elsewhere@example.com")
    assert await is_verified(client, account) is True


async def test_no_mail_goes_to_an_address_the_account_left_before_the_job_ran(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, database: Database
) -> None:
    account = await new_account(client)
    assert (await client.post("/auth/verify/request", headers=account.headers)).status_code == 202

    async with database.transaction() as tx:
        await users.update_user(tx, account.id, changes={"email": "later@example.com"})

    assert await run_jobs(ctx) == 1
    assert mail.messages == []


# --- a change of email ---


async def test_a_new_email_waits_for_the_token_mailed_to_it(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    other_session = (await sign_in(client, account.email)).json()
    before = await client.get(f"/users/{account.id}", headers=account.headers)

    asked = await ask_for_email(client, account, "New@Example.com")

    assert asked.status_code == 202, asked.text
    assert asked.json()["email"] == account.email
    assert asked.headers["ETag"] == before.headers["ETag"]  # nothing changed yet
    assert mail.messages == []  # the request only wrote the job
    token = await mailed_token(ctx, mail, to="new@example.com")
    [message] = mail.messages
    assert message["Subject"] == "Confirm your new email address for Inkwell"
    assert f"curl -X POST {PUBLIC_URL}/auth/confirm-email " in body_of(message)
    me = (await client.get("/users/me", headers=account.headers)).json()
    assert (me["email"], me["pending_email"]) == (account.email, "new@example.com")

    # Until it is confirmed, the new address neither signs in nor resets the password.
    assert (await sign_in(client, "new@example.com")).status_code == 401
    forgot = await client.post("/auth/forgot-password", json={"email": "new@example.com"})
    assert forgot.status_code == 202
    assert await run_jobs(ctx) == 1
    assert len(mail.messages) == 1

    first = await confirm(client, token)
    second = await confirm(client, token)

    assert first.status_code == 204, first.text
    assert (second.status_code, second.json()) == (400, REFUSED)
    for access_token in (account.access_token, other_session["access_token"]):
        assert (await client.get("/users/me", headers=bearer(access_token))).status_code == 401
    for refresh_token in (account.refresh_token, other_session["refresh_token"]):
        refreshed = await client.post("/auth/refresh", json={"refresh_token": refresh_token})
        assert refreshed.status_code == 401
    assert (await sign_in(client, account.email)).status_code == 401
    signed_in = await sign_in(client, "new@example.com")
    assert signed_in.status_code == 200
    headers = bearer(signed_in.json()["access_token"])
    me = (await client.get("/users/me", headers=headers)).json()
    assert (me["email"], me["email_verified"], me["pending_email"]) == ("new@example.com", True, None)
    after = await client.get(f"/users/{account.id}", headers=headers)
    assert after.headers["ETag"] != before.headers["ETag"]  # a change like any other

    notice = await mailed_notice(ctx, mail, to=account.email)
    assert mail.messages[-1]["Subject"] == "Your Inkwell email address was changed"
    assert "to n***@example.com" in notice
    assert "new@example.com" not in notice
    assert f"{PUBLIC_URL}/auth/forgot-password" in notice


async def test_an_admin_moves_an_account_with_their_own_password(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, session: AsyncSession
) -> None:
    member = await new_account(client)
    admin = await make_admin(session, await new_account(client, password="the admin's password"))
    body = {"email": "given@example.com", "current_password": admin.password}

    asked = await client.patch(f"/users/{member.id}", json=body, headers=admin.headers)

    assert asked.status_code == 202, asked.text
    token = await mailed_token(ctx, mail, to="given@example.com")
    assert (await confirm(client, token)).status_code == 204
    await mailed_notice(ctx, mail, to=member.email)
    assert (await client.get("/users/me", headers=member.headers)).status_code == 401
    assert (await client.get("/users/me", headers=admin.headers)).status_code == 200
    assert (await sign_in(client, "given@example.com")).status_code == 200


async def test_only_the_address_asked_for_last_can_be_confirmed(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    typo = await change_token(client, ctx, mail, account, "typo@example.con")
    meant = await change_token(client, ctx, mail, account, "meant@example.com")

    assert await pending_email(client, account) == "meant@example.com"
    assert (await confirm(client, typo)).status_code == 400
    assert (await confirm(client, meant)).status_code == 204


@pytest.mark.parametrize("how", ["change", "reset"])
async def test_a_new_password_withdraws_a_pending_email_change(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, how: str
) -> None:
    account = await new_account(client)
    token = await change_token(client, ctx, mail, account, "thief@example.com")

    if how == "change":
        changed = await client.put(
            "/users/me/password",
            json={"current_password": account.password, "new_password": NEW_PASSWORD},
            headers=account.headers,
        )
        assert changed.status_code == 204
        assert await pending_email(client, account) is None
    else:
        assert (await reset(client, await reset_token(client, ctx, mail, account.email))).status_code == 204

    assert (await confirm(client, token)).status_code == 400
    assert (await sign_in(client, account.email, NEW_PASSWORD)).status_code == 200


async def test_an_address_taken_meanwhile_is_409_and_changes_nothing(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    token = await change_token(client, ctx, mail, account, "contested@example.com")
    taken = await client.post(
        "/users", json={"email": "contested@example.com", "name": "First", "password": PASSWORD}
    )
    assert taken.status_code == 201

    response = await confirm(client, token)

    assert (response.status_code, response.json()) == (409, {"detail": "Email already registered"})
    me = await client.get("/users/me", headers=account.headers)
    assert me.status_code == 200  # the sessions go on
    assert me.json()["email"] == account.email
    assert await run_jobs(ctx) == 0  # and the old address is told nothing


async def test_no_token_goes_to_an_address_taken_before_the_job_ran(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    assert (await ask_for_email(client, account, "quick@example.com")).status_code == 202
    taken = await client.post(
        "/users", json={"email": "quick@example.com", "name": "Quick", "password": PASSWORD}
    )
    assert taken.status_code == 201

    assert await run_jobs(ctx) == 1
    assert mail.messages == []
    assert await pending_email(client, account) is None


async def test_only_the_tokens_hash_is_stored(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, database: Database
) -> None:
    account = await new_account(client)
    verify = await verification_token(client, ctx, mail, account)
    reset_with = await reset_token(client, ctx, mail, account.email)
    change = await change_token(client, ctx, mail, account, "new@example.com")

    async with database.transaction() as tx:
        rows = (await tx.connection.execute(select(AccountToken).order_by(AccountToken.created_at))).all()
        payloads = list(await tx.connection.scalars(select(OutboxJob.payload)))

    assert {row.token_hash for row in rows} == {token_digest(t) for t in (verify, reset_with, change)}
    assert {(row.purpose, row.email) for row in rows} == {
        (TokenPurpose.VERIFY_EMAIL, account.email),
        (TokenPurpose.RESET_PASSWORD, account.email),
        (TokenPurpose.CHANGE_EMAIL, "new@example.com"),
    }
    assert {row.user_id for row in rows} == {account.id}
    stored = [str(value) for row in rows for value in row] + [str(p) for p in payloads]
    for token in (verify, reset_with, change):
        assert len(token) >= 43
        assert not any(token in value for value in stored)


async def test_without_a_mail_server_a_reset_is_logged_without_its_token(
    client: httpx.AsyncClient,
    settings: Settings,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issued: list[str] = []

    def new_account_token() -> str:
        issued.append(tokens.new_account_token())
        return issued[-1]

    monkeypatch.setattr(auth, "new_account_token", new_account_token)
    logged = settings.model_copy(update={"smtp_url": None, "log_format": "json"})
    stream = io.StringIO()
    configure_logging(logged, stream)
    ctx = JobContext(logged, database, create_mailer(logged), JOBS)
    account = await new_account(client)

    response = await client.post("/auth/forgot-password", json={"email": account.email})

    assert response.status_code == 202
    assert await run_jobs(ctx) == 1
    [token] = issued
    assert token not in stream.getvalue()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [mailed] = [line for line in lines if line["event"] == "mail not sent: INKWELL_SMTP_URL is unset"]
    assert (mailed["to"], mailed["subject"]) == ("***@example.com", "Reset your Inkwell password")
    assert "body" not in mailed


async def test_requests_are_validated(client: httpx.AsyncClient) -> None:
    answers = [
        await client.post("/auth/forgot-password", json={"email": "not an address"}),
        await client.post("/auth/forgot-password", json={}),
        await client.post("/auth/verify", json={}),
        await client.post("/auth/confirm-email", json={}),
        await reset(client, "some-token", "pw-1234"),
    ]

    assert [answer.status_code for answer in answers] == [422, 422, 422, 422, 422]
    assert "pw-1234" not in answers[-1].text  # a password is never echoed back


async def test_a_wrong_token_costs_no_password_hashing(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[str] = []

    async def record(password: str) -> str:
        hashed.append(password)
        return "never stored"

    monkeypatch.setattr(app.state.auth.passwords, "hash", record)

    response = await reset(client, "never-issued")

    assert (response.status_code, response.json()) == (400, REFUSED)
    assert hashed == []


async def test_the_routes_exist_only_with_sign_in_on(open_client: httpx.AsyncClient) -> None:
    paths = ("/auth/verify/request", "/auth/verify", "/auth/forgot-password", "/auth/reset-password")
    for path in (*paths, "/auth/confirm-email"):
        assert (await open_client.post(path, json={})).status_code == 404


async def test_the_openapi_document_describes_the_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    expected = {
        "/auth/verify/request": {"202", "401", "429", "503"},
        "/auth/verify": {"204", "400", "413", "422", "503"},
        "/auth/forgot-password": {"202", "400", "413", "422", "429", "503"},
        "/auth/reset-password": {"204", "400", "413", "422", "503"},
        "/auth/confirm-email": {"204", "400", "409", "413", "422", "503"},
    }
    for path, statuses in expected.items():
        operation = paths[path]["post"]
        assert set(operation["responses"]) == statuses, path
        assert operation["summary"], path
        assert operation["description"], path
    assert "expired" in paths["/auth/verify"]["post"]["responses"]["400"]["description"]
    assert "security" in paths["/auth/verify/request"]["post"]
    assert "security" not in paths["/auth/forgot-password"]["post"]
    assert "security" not in paths["/auth/confirm-email"]["post"]
    change = paths["/users/{user_id}"]["patch"]["responses"]
    assert change["202"]["content"] == change["200"]["content"]
    assert "ETag" in change["202"]["headers"]


@pytest.fixture
def committed_app(settings: Settings, committed_database: Database) -> FastAPI:
    return app_on(settings, committed_database)


# An email change token is mailed to the new address; the others go to the account's own.
NEW_ADDRESS = {TokenPurpose.CHANGE_EMAIL: "moved@example.com"}
FLOWS = {
    "verify": (TokenPurpose.VERIFY_EMAIL, "/auth/verify"),
    "reset": (TokenPurpose.RESET_PASSWORD, "/auth/reset-password"),
    "confirm": (TokenPurpose.CHANGE_EMAIL, "/auth/confirm-email"),
}


@pytest.mark.parametrize("flow", list(FLOWS))
async def test_of_two_concurrent_uses_of_a_token_one_succeeds(
    committed_app: FastAPI, committed_database: Database, flow: str
) -> None:
    purpose, path = FLOWS[flow]
    async with committed_database.transaction() as tx:
        created = await users.create_user(tx, data=UserFields(email="racer@example.com", name="Racer"))
        token = await auth.issue_account_token(
            tx, created, purpose=purpose, now=utcnow(), ttl=60, email=NEW_ADDRESS.get(purpose)
        )
    body = {"token": token, "new_password": NEW_PASSWORD} if flow == "reset" else {"token": token}

    async with asgi_client(committed_app) as client:
        answers = await asyncio.gather(*(client.post(path, json=body) for _ in range(2)))

    assert sorted(answer.status_code for answer in answers) == [204, 400]
