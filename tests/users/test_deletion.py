"""A deleted account leaves nothing a later one could inherit: ids are never used twice (SQLite included),
and what was keyed by the account (idempotency keys, mail still waiting to be sent) goes with it."""

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.idempotency.models import IdempotencyKey
from inkwell.jobs.models import OutboxJob
from tests.accounts import Account, new_account


async def delete_account(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.request(
        "DELETE", f"/users/{account.id}", json={"current_password": account.password}, headers=account.headers
    )
    assert response.status_code == 204, response.text


async def rows_of(session: AsyncSession, model: type[IdempotencyKey] | type[OutboxJob], user_id: int) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(model.user_id == user_id)) or 0


async def test_a_deleted_accounts_id_is_never_given_again(client: httpx.AsyncClient) -> None:
    await new_account(client)
    last = await new_account(client)  # the highest id, the one a table without a counter gives again

    await delete_account(client, last)
    after = await new_account(client)

    assert after.id > last.id


async def test_what_was_keyed_by_an_account_goes_with_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    account = await new_account(client)
    headers = {**account.headers, "Idempotency-Key": "the-same-key"}
    post = await client.post(
        f"/users/{account.id}/posts", json={"title": "Mine", "body": "b"}, headers=headers
    )
    assert (await client.post("/auth/verify/request", headers=account.headers)).status_code == 202
    kept = (await rows_of(session, IdempotencyKey, account.id), await rows_of(session, OutboxJob, account.id))

    await delete_account(client, account)
    newcomer = await new_account(client)
    headers = {**newcomer.headers, "Idempotency-Key": "the-same-key"}
    theirs = await client.post(
        f"/users/{newcomer.id}/posts", json={"title": "Mine", "body": "b"}, headers=headers
    )

    assert post.status_code == 201
    assert kept == (1, 1)
    assert (
        await rows_of(session, IdempotencyKey, account.id),
        await rows_of(session, OutboxJob, account.id),
    ) == (0, 0)
    assert theirs.status_code == 201, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["author_id"] == newcomer.id
