"""Reads that may be slightly old go to a replica, and still never show a writer their write missing.

One primary and one streaming replica of the module's own (tests/replication.py). Replay is paused to
make the replica's lag certain: whatever is written after the pause is missing there until it resumes.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr

from inkwell.replicas import POSITION_HEADER
from tests.accounts import Account, new_account
from tests.redis import delete_keys, redis_url, unique_prefix
from tests.replicas.serving import migrated, read_counts, replica_settings, running
from tests.replication import Pair, streaming_pair

pytestmark = pytest.mark.slow

ROUNDS = 143  # seven reads a round: 1,001 reads


@pytest.fixture(scope="module")
async def pair() -> AsyncIterator[Pair]:
    with streaming_pair() as pair:
        await migrated(pair)
        yield pair


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    url, prefix = redis_url(), unique_prefix()
    yield prefix
    delete_keys(url, prefix)


def word(number: int) -> str:
    """A word of letters only, one per round, that search finds in that round's post alone."""
    letters = ""
    while True:
        number, digit = divmod(number, 26)
        letters += chr(ord("a") + digit)
        if not number:
            return f"zq{letters}"


Check = Callable[[httpx.Response], bool]


def reads_of(account: Account, post_id: int, term: str, bio: str) -> list[tuple[str, Check]]:
    """Every read route, each with what shows the round's writes (the post, and the new bio)."""

    def has_post(response: httpx.Response) -> bool:
        return response.status_code == 200 and post_id in [post["id"] for post in response.json()]

    def has_bio(response: httpx.Response) -> bool:
        body = response.json()
        users = body if isinstance(body, list) else [body]
        return response.status_code == 200 and [user["bio"] for user in users] == [bio]

    return [
        (f"/posts/{post_id}", lambda response: response.status_code == 200),
        ("/posts", has_post),
        (f"/posts?q={term}", has_post),
        (f"/users/{account.id}/posts?after={post_id - 1}", has_post),
        (f"/users/{account.id}/posts?q={term}", has_post),
        (f"/users/{account.id}", has_bio),
        (f"/users?after={account.id - 1}&limit=1", has_bio),
    ]


async def test_a_writer_reads_every_write_back_on_any_instance_while_the_replica_lags(
    pair: Pair, redis_prefix: str
) -> None:
    settings = replica_settings(
        pair.primary.url,
        [pair.replica.url],
        redis_url=SecretStr(redis_url()),
        redis_prefix=redis_prefix,
        db_replica_max_lag=3600.0,  # paused on purpose: still a replica to read from
        db_replica_wait=0.002,
    )
    async with running(settings) as first, running(settings) as second:
        account = await new_account(first)
        await pair.pause_replay()
        try:
            reads, stale = 0, []
            for number in range(ROUNDS):
                writer, reader = (first, second) if number % 2 == 0 else (second, first)
                term, bio = word(number), f"round {number}"
                post = {"title": f"Post {term}", "body": "Written, then read back at once."}
                created = await writer.post(f"/users/{account.id}/posts", json=post, headers=account.headers)
                assert created.status_code == 201, created.text
                assert created.headers[POSITION_HEADER]
                patched = await writer.patch(
                    f"/users/{account.id}", json={"bio": bio}, headers=account.headers
                )
                assert patched.status_code == 200, patched.text

                routes = reads_of(account, created.json()["id"], term, bio)
                answers = await asyncio.gather(
                    *(reader.get(path, headers=account.headers) for path, _ in routes)
                )
                reads += len(answers)
                stale += [
                    path for (path, shows), answer in zip(routes, answers, strict=True) if not shows(answer)
                ]

            # Anyone else, with no position and no session: the replica answers, without this round's post.
            anonymous = await asyncio.gather(*(second.get(path) for path, _ in routes[:5]))
            # Any client that sends the position back sees the write.
            position = {POSITION_HEADER: created.headers[POSITION_HEADER]}
            with_position = await asyncio.gather(
                *(second.get(path, headers=position) for path, _ in routes[:5])
            )
            await asyncio.sleep(0.3)  # a check of the replicas, which publishes the counts
            counts = await read_counts(second)
        finally:
            await pair.resume_replay()

    assert reads >= 1000
    assert stale == []
    assert not all(shows(answer) for (_, shows), answer in zip(routes[:5], anonymous, strict=True))
    assert all(shows(answer) for (_, shows), answer in zip(routes[:5], with_position, strict=True))
    assert counts.get(("replica", "any"), 0) >= 1, counts
    assert counts.get(("primary", "behind"), 0) >= 1, counts
    print(f"\n{reads} reads by their writer, 0 stale; where the second instance's reads went: {counts}")


@pytest.mark.parametrize("sent", ["yesterday", "0/", "1/2/3", "G/0", "0/123456789", "", "-1/0"])
async def test_a_position_that_is_not_one_is_a_400(pair: Pair, sent: str) -> None:
    settings = replica_settings(pair.primary.url, [pair.replica.url])
    async with running(settings) as client:
        response = await client.get("/posts", headers={POSITION_HEADER: sent})

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"{POSITION_HEADER} must be a position a write answered, such as 0/16B3748"
    }


async def test_writes_answer_a_position_and_reads_none(pair: Pair) -> None:
    settings = replica_settings(pair.primary.url, [pair.replica.url])
    async with running(settings) as client:
        account = await new_account(client)
        written = await client.post(
            f"/users/{account.id}/posts", json={"title": "T", "body": "B"}, headers=account.headers
        )
        searched = await client.get("/posts?q=B")

    assert POSITION_HEADER in written.headers
    assert searched.status_code == 200
    assert POSITION_HEADER not in searched.headers


async def test_reads_answer_from_elsewhere_while_the_replica_is_down_then_lagging(pair: Pair) -> None:
    settings = replica_settings(pair.primary.url, [pair.replica.url], db_replica_max_lag=0.3)
    async with running(settings) as client:
        account = await new_account(client)
        post = await client.post(
            f"/users/{account.id}/posts", json={"title": "T", "body": "B"}, headers=account.headers
        )
        await pair.caught_up()
        paths = [f"/posts/{post.json()['id']}", f"/users/{account.id}/posts?q=B", "/posts?q=B"]

        async def read_all(times: int) -> list[int]:
            answers = []
            for _ in range(times):
                answers += [(await client.get(path)).status_code for path in paths]
            return answers

        before = await read_all(5)
        await asyncio.to_thread(pair.replica.stop)
        try:
            while_down = await read_all(20)
        finally:
            await asyncio.to_thread(pair.replica.start)
        await until_read_from_replica(client)

        await pair.pause_replay()
        try:
            # A write the replica does not replay: it falls behind by more than the limit.
            await client.post(
                f"/users/{account.id}/posts", json={"title": "U", "body": "C"}, headers=account.headers
            )
            await asyncio.sleep(0.3 + 0.1 * 4)
            lagging_from = await read_counts(client)
            while_lagging = await read_all(20)
            await asyncio.sleep(0.2)
            counts = await read_counts(client)
            metrics_while_lagging = (await client.get("/metrics")).text
        finally:
            await pair.resume_replay()
        await until_read_from_replica(client)
        metrics_after = (await client.get("/metrics")).text

    assert before == [200] * 15
    assert while_down == [200] * 60
    assert while_lagging == [200] * 60
    no_replica = counts.get(("primary", "no_replica"), 0) - lagging_from.get(("primary", "no_replica"), 0)
    assert no_replica == 60, counts
    assert counts.get(("primary", "replica_down"), 0) + counts.get(("primary", "no_replica"), 0) >= 120, (
        counts
    )
    replica = f'replica="{pair.replica.host}"'
    assert f"inkwell_db_replica_healthy{{{replica}}} 0.0" in metrics_while_lagging
    assert f"inkwell_db_replica_healthy{{{replica}}} 1.0" in metrics_after


async def until_read_from_replica(client: httpx.AsyncClient) -> None:
    """Wait (10 s at most) until a check has found the replica answering again, and reads go to it."""
    for _ in range(60):
        before = (await read_counts(client)).get(("replica", "any"), 0)
        await client.get("/posts?q=anything")
        await asyncio.sleep(0.15)
        if (await read_counts(client)).get(("replica", "any"), 0) > before:
            return
    pytest.fail("reads did not go back to the replica")
