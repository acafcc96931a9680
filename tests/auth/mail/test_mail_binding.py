"""Mailed changes are bound to the account as it was when they were asked for (its security stamp), a new
email tells no one which addresses are registered, and an owner who proves themselves gets a locked
account back at once. Mail goes through a real SMTP server that refuses, then accepts."""

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.auth.emails import SEND_EMAIL_CHANGE, send_email_change
from inkwell.jobs.context import JobContext
from inkwell.jobs.models import OutboxJob
from inkwell.jobs.runner import Outcome, attempt
from inkwell.orm import utcnow
from inkwell.users.service import USERS
from tests.accounts import PASSWORD, new_account, sign_in
from tests.apps import asgi_client
from tests.auth.mail.test_email_flows import (
    NEW_PASSWORD,
    ask_for_email,
    confirm,
    mailed_token,
    reset,
    reset_token,
    run_jobs,
)
from tests.smtp import MailSink

ATTACKER = "thief@example.com"


async def refused() -> str:
    return "451 4.3.0 Try again later"


async def email_change_job(session: AsyncSession, user_id: int) -> int:
    query = select(OutboxJob.id).where(OutboxJob.user_id == user_id, OutboxJob.name == SEND_EMAIL_CHANGE)
    job_id = await session.scalar(query)
    assert job_id is not None
    return job_id


async def jobs_of(session: AsyncSession, user_id: int) -> int:
    return (
        await session.scalar(select(func.count()).select_from(OutboxJob).where(OutboxJob.user_id == user_id))
        or 0
    )


async def retried(ctx: JobContext, job_id: int) -> Outcome:
    """The job's next attempt, now (as a worker would run it once its backoff has passed)."""
    async with ctx.database.transaction() as tx:
        await tx.connection.execute(
            update(OutboxJob).where(OutboxJob.id == job_id).values(available_at=utcnow())
        )
    return await attempt(ctx, job_id)


async def test_a_new_password_withdraws_an_email_change_whose_mail_was_refused(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, session: AsyncSession
) -> None:
    account = await new_account(client)
    assert (await ask_for_email(client, account, ATTACKER)).status_code == 202
    job_id = await email_change_job(session, account.id)
    mail.replies.append(refused)
    assert await attempt(ctx, job_id) is Outcome.RETRY  # the server said "later"

    body = {"current_password": account.password, "new_password": NEW_PASSWORD}
    assert (await client.put("/users/me/password", json=body, headers=account.headers)).status_code == 204
    outcome = await retried(ctx, job_id)

    assert outcome is Outcome.FINISHED  # withdrawn with the change of password
    assert [message["X-Rcpt-To"] for message in mail.messages] == []
    assert mail.attempts == 1


async def test_a_job_that_runs_after_the_account_changed_mails_nothing(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    async with ctx.database.reads() as tx:
        before = await USERS.get(tx, account.id)
    assert before is not None
    body = {"current_password": account.password, "new_password": NEW_PASSWORD}
    assert (await client.put("/users/me/password", json=body, headers=account.headers)).status_code == 204

    # A job asked for under the account's old stamp, already running when the password changed.
    await send_email_change(ctx, {"user_id": account.id, "email": ATTACKER, "stamp": before.security_stamp})

    assert mail.messages == []


async def test_a_token_mailed_before_a_new_password_no_longer_works(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    assert (await ask_for_email(client, account, ATTACKER)).status_code == 202
    token = await mailed_token(ctx, mail, to=ATTACKER)
    body = {"current_password": account.password, "new_password": NEW_PASSWORD}
    assert (await client.put("/users/me/password", json=body, headers=account.headers)).status_code == 204

    assert (await confirm(client, token)).status_code == 400
    assert (await sign_in(client, account.email, NEW_PASSWORD)).status_code == 200


async def test_the_mail_of_a_deleted_account_goes_with_it_and_no_newcomer_gets_it(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink, session: AsyncSession
) -> None:
    attacker = await new_account(client)
    assert (await ask_for_email(client, attacker, ATTACKER)).status_code == 202
    job_id = await email_change_job(session, attacker.id)
    mail.replies.append(refused)
    assert await attempt(ctx, job_id) is Outcome.RETRY
    deleted = await client.request(
        "DELETE",
        f"/users/{attacker.id}",
        json={"current_password": attacker.password},
        headers=attacker.headers,
    )
    assert deleted.status_code == 204
    victim = await new_account(client)

    outcome = await retried(ctx, job_id)

    assert victim.id != attacker.id
    assert outcome is Outcome.FINISHED
    assert mail.messages == []
    assert await jobs_of(session, attacker.id) == 0


async def test_a_new_email_is_answered_the_same_whether_or_not_it_is_registered(
    client: httpx.AsyncClient, ctx: JobContext, mail: MailSink
) -> None:
    account = await new_account(client)
    other = await new_account(client)

    taken = await ask_for_email(client, account, other.email)
    free = await ask_for_email(client, account, "free@example.com")

    assert (taken.status_code, free.status_code) == (202, 202)
    assert taken.json() == free.json()
    async with ctx.database.reads() as tx:
        unchanged = await USERS.get(tx, account.id)
    assert unchanged is not None
    assert unchanged.email == account.email
    await run_jobs(ctx)
    assert [message["X-Rcpt-To"] for message in mail.messages] == ["free@example.com"]


async def test_probing_addresses_with_a_new_email_is_counted_before_anything(
    client: httpx.AsyncClient, ctx: JobContext
) -> None:
    account = await new_account(client)
    others = [await new_account(client) for _ in range(3)]
    limit = ctx.settings.mail_request_limit_per_address

    # Registered and free addresses in turn, none asked for more than twice (under each mailbox's share).
    targets = [others[n % 3].email if n % 2 else f"free{n}@example.com" for n in range(limit + 2)]

    answers = [(await ask_for_email(client, account, target)).status_code for target in targets]

    assert answers == [202] * limit + [429, 429]  # past the client's share of mails, registered or not


async def test_a_reset_gives_a_locked_out_owner_the_account_back_at_once(
    app: FastAPI, ctx: JobContext, mail: MailSink
) -> None:
    async with asgi_client(app, address="192.0.2.1") as owner:
        account = await new_account(owner)
        per_account = ctx.settings.login_max_failures_per_account
        for n in range(per_account):  # strangers, each from an address of their own
            async with asgi_client(app, address=f"198.51.100.{n + 1}") as stranger:
                await sign_in(stranger, account.email, "not the password")
        locked = await sign_in(owner, account.email, PASSWORD)
        assert (await reset(owner, await reset_token(owner, ctx, mail, account.email))).status_code == 204

        back = await sign_in(owner, account.email, NEW_PASSWORD)

    assert locked.status_code == 429
    assert back.status_code == 200
