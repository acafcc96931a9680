"""SIGKILL in the middle of a stream of writes: every write that got a 2xx is there after the restart,
and retrying with the same Idempotency-Key (answered or not) never writes twice."""

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.accounts import PASSWORD, SIGNED_IN_ENV, bearer
from tests.databases import Backend, create_database, drop_database
from tests.processes import inkwell
from tests.servers import Server

pytestmark = pytest.mark.slow

WRITERS = 4
KILL_AFTER = 40  # acknowledged writes


@dataclass(frozen=True)
class Write:
    url: str
    payload: dict[str, str]
    key: str


@pytest.fixture
async def durable_database(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    name = f"inkwell_durable_{os.getpid()}"
    yield await create_database(backend, name, str(tmp_path))
    await drop_database(backend, name)


class Stream:
    """Writers that create users and posts one after another until the server goes away."""

    def __init__(self, client: httpx.AsyncClient, author_id: int) -> None:
        self.client = client
        self.author_id = author_id
        self.acknowledged: list[tuple[Write, httpx.Response]] = []
        self.unanswered: list[Write] = []
        self.enough = asyncio.Event()

    async def write(self, writer: int) -> None:
        for n in range(10_000):
            write = self._next(writer, n)
            try:
                response = await self.client.post(
                    write.url, json=write.payload, headers={"Idempotency-Key": write.key}
                )
            except httpx.TransportError:
                self.unanswered.append(write)
                return
            assert response.status_code == 201, response.text
            self.acknowledged.append((write, response))
            if len(self.acknowledged) >= KILL_AFTER:
                self.enough.set()

    def _next(self, writer: int, n: int) -> Write:
        if n % 2:
            return Write(
                f"/users/{self.author_id}/posts", {"title": f"{writer}-{n}", "body": "b"}, f"p-{writer}-{n}"
            )
        account = {"email": f"w{writer}-{n}@example.com", "name": "W", "password": PASSWORD}
        return Write("/users", account, f"u-{writer}-{n}")


# Kept to the two databases the guarantee is stated for, to keep the suite's time down.
@pytest.mark.backends("sqlite", "postgresql")
async def test_acknowledged_writes_survive_sigkill_and_retries_never_double(
    durable_database: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": durable_database,
        "HOME": str(tmp_path),
        **SIGNED_IN_ENV,
        # One client signs up every user here; the limit has tests of its own.
        "INKWELL_SIGN_UP_LIMIT_PER_ADDRESS": "1000000",
    }
    assert inkwell(env, "db", "upgrade").returncode == 0
    # The author is an admin: it writes its own posts, and may read every user whole (with the email).
    admin = {**env, "INKWELL_ADMIN_PASSWORD": PASSWORD}
    made = inkwell(admin, "users", "create-admin", "--email", "author@example.com", "--name", "A")
    assert made.returncode == 0, made.stderr
    first = Server(env, tmp_path).start()
    async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
        signed_in = await client.post(
            "/auth/token", data={"username": "author@example.com", "password": PASSWORD}
        )
        client.headers.update(bearer(signed_in.json()["access_token"]))
        author = (await client.get("/users/me")).json()
        stream = Stream(client, author["id"])
        writers = [asyncio.create_task(stream.write(i)) for i in range(WRITERS)]
        await asyncio.wait_for(stream.enough.wait(), timeout=120)
        await asyncio.to_thread(first.kill)
        await asyncio.wait_for(asyncio.gather(*writers), timeout=60)

    second = Server(env, tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=second.url, timeout=30, headers=client.headers) as client:
            await check_acknowledged_writes_are_there(client, stream)
            await check_retries_write_nothing_twice(client, stream)
    finally:
        log = second.stop()
    assert "Traceback" not in log, log


async def check_acknowledged_writes_are_there(client: httpx.AsyncClient, stream: Stream) -> None:
    assert len(stream.acknowledged) >= KILL_AFTER
    for write, response in stream.acknowledged:
        created = response.json()
        kind = "posts" if "title" in write.payload else "users"
        stored = await client.get(f"/{kind}/{created['id']}")
        assert stored.status_code == 200, (write, stored.text)
        assert stored.json() == created


async def check_retries_write_nothing_twice(client: httpx.AsyncClient, stream: Stream) -> None:
    for write, response in stream.acknowledged:
        retried = await client.post(write.url, json=write.payload, headers={"Idempotency-Key": write.key})
        assert (retried.status_code, retried.content) == (201, response.content)
        assert retried.headers["idempotent-replayed"] == "true"
    for write in stream.unanswered:
        retried = await client.post(write.url, json=write.payload, headers={"Idempotency-Key": write.key})
        assert retried.status_code == 201, retried.text

    titles = [p["title"] for p in await all_pages(client, f"/users/{stream.author_id}/posts")]
    emails = [u["email"] for u in await all_pages(client, "/users")]
    assert len(titles) == len(set(titles))
    assert len(emails) == len(set(emails))
    every = [w for w, _ in stream.acknowledged] + stream.unanswered
    assert len(titles) + len(emails) == len(every) + 1  # and the author


async def all_pages(client: httpx.AsyncClient, url: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    while page := (await client.get(url, params={"limit": 100, "offset": len(items)})).json():
        items.extend(page)
    return items
