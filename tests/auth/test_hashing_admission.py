"""Admission to password hashing: a few hashings at once, a short queue, a 503 for the rest."""

import asyncio
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.auth.errors import HashingBusy
from inkwell.auth.models import AuthSession
from inkwell.auth.passwords import Admission, Passwords, Verdict
from inkwell.config import Settings
from inkwell.db import Database
from inkwell.users.models import User
from tests.accounts import PASSWORD, sign_in
from tests.apps import app_on, asgi_client

BUSY = {"detail": "The server is busy hashing passwords; retry shortly"}


class WatchedHasher(Argon2Hasher):
    """Argon2id at its lowest cost, `delay` seconds slower, counting the hashings that run at once."""

    def __init__(self, delay: float) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.delay = delay
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with self._watched():
            return super().hash(password, salt=salt)

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        with self._watched():
            return super().verify(password, hash)

    @contextmanager
    def _watched(self) -> Iterator[None]:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay)
            yield
        finally:
            with self._lock:
                self.running -= 1


def watched_passwords(hasher: WatchedHasher, *, concurrency: int, queue: int, timeout: float) -> Passwords:
    admission = Admission(concurrency=concurrency, queue=queue, timeout=timeout)
    return Passwords(PasswordHash((hasher,)), admission)


async def outcomes(*attempts: Awaitable[object]) -> list[str]:
    """How each attempt, run at once, ended: "done", or "busy" for a HashingBusy."""
    results = await asyncio.gather(*attempts, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, HashingBusy):
            raise result
    return ["busy" if isinstance(result, HashingBusy) else "done" for result in results]


# --- Passwords, on its own ---


async def test_hashings_beyond_the_turns_and_the_queue_are_refused_at_once() -> None:
    hasher = WatchedHasher(delay=0.05)
    passwords = watched_passwords(hasher, concurrency=2, queue=3, timeout=5)

    started = time.monotonic()
    results = await outcomes(*(passwords.hash(PASSWORD) for _ in range(10)))

    # Two running and three waiting; the other five are refused without waiting for a turn.
    assert Counter(results) == {"done": 5, "busy": 5}
    assert hasher.most_at_once == 2
    assert time.monotonic() - started < 1


async def test_a_turn_that_does_not_come_in_time_is_refused() -> None:
    hasher = WatchedHasher(delay=1.0)
    passwords = watched_passwords(hasher, concurrency=1, queue=5, timeout=0.1)
    first = asyncio.ensure_future(passwords.hash(PASSWORD))
    await asyncio.sleep(0)

    started = time.monotonic()
    waiters = await outcomes(*(passwords.hash(PASSWORD) for _ in range(3)))
    waited = time.monotonic() - started

    assert waiters == ["busy"] * 3
    # Refused after the time bound, long before the hashing ahead of them ended.
    assert 0.1 <= waited < 0.8
    assert await outcomes(first) == ["done"]
    # Once the turn is free again, a hashing is admitted at once.
    assert await outcomes(passwords.hash(PASSWORD)) == ["done"]


async def test_a_cancelled_hashing_keeps_its_turn_until_its_thread_is_done() -> None:
    hasher = WatchedHasher(delay=0.2)
    passwords = watched_passwords(hasher, concurrency=1, queue=1, timeout=5)
    cancelled = asyncio.ensure_future(passwords.hash(PASSWORD))
    await asyncio.sleep(0.05)
    cancelled.cancel()

    # The thread still hashes for the cancelled request: the next one waits for it rather than running
    # beside it.
    assert await outcomes(passwords.hash(PASSWORD)) == ["done"]
    assert hasher.most_at_once == 1


async def test_verifying_goes_through_the_same_turns() -> None:
    hasher = WatchedHasher(delay=0.05)
    passwords = watched_passwords(hasher, concurrency=1, queue=0, timeout=5)
    stored = await passwords.hash(PASSWORD)

    results = await outcomes(passwords.verify(PASSWORD, stored), passwords.verify(PASSWORD, None))

    assert results == ["done", "busy"]
    assert await passwords.verify(PASSWORD, stored) == Verdict(valid=True)


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
async def test_hashing_threads_and_those_they_start_run_below_the_servers_priority() -> None:
    admission = Admission(concurrency=1, queue=0, timeout=5, nice=5)

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def niceness_here_and_in_a_lane() -> tuple[int, int]:
        # argon2 starts a thread per lane from the hashing thread, as this does.
        lane: list[int] = []
        started = threading.Thread(target=lambda: lane.append(niceness()))
        started.start()
        started.join()
        return niceness(), lane[0]

    assert await admission.run(niceness_here_and_in_a_lane) == (min(19, niceness() + 5),) * 2


def test_the_default_concurrency_leaves_a_core_per_parallel_lane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)

    assert Settings(_env_file=None, password_parallelism=4).hashing_concurrency == 2
    assert Settings(_env_file=None, password_parallelism=16).hashing_concurrency == 1
    assert Settings(_env_file=None, password_hash_concurrency=3).hashing_concurrency == 3


# --- through the API, with sign-in on ---

FLOOD = 40


@pytest.fixture
def busy_app(settings: Settings, committed_database: Database) -> FastAPI:
    """Sign-in on, with one hashing at a time and two waiting, on committed data (the requests overlap).

    The requests all come from one address: its limits on sign-ups and password attempts are lifted, so
    that they reach the hashing.
    """
    unlimited = {
        "sign_up_limit_per_address",
        "login_max_failures",
        "login_max_failures_per_account",
        "login_max_failures_per_address",
    }
    settings = settings.model_copy(
        update={"password_hash_concurrency": 1, "password_hash_queue": 2, **dict.fromkeys(unlimited, 1000)}
    )
    return app_on(settings, committed_database)


@pytest.fixture
def hasher(busy_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> WatchedHasher:
    watched = WatchedHasher(delay=0.05)
    monkeypatch.setattr(busy_app.state.passwords, "hasher", PasswordHash((watched,)))
    return watched


async def count(database: Database, model: type[object]) -> int:
    async with database.transaction() as tx:
        return int(await tx.connection.scalar(select(func.count()).select_from(model)) or 0)


def assert_refused_as_busy(responses: list[httpx.Response]) -> None:
    refused = [r for r in responses if r.status_code == 503]
    assert refused, "no request was refused"
    for response in refused:
        assert response.json() == BUSY
        assert response.headers["Retry-After"] == "1"


async def test_a_flood_of_sign_ups_gets_503_past_the_queue_and_the_refused_write_nothing(
    busy_app: FastAPI, hasher: WatchedHasher, committed_database: Database
) -> None:
    async def sign_up(client: httpx.AsyncClient, n: int) -> httpx.Response:
        body = {"email": f"flood{n}@example.com", "name": "Flood", "password": PASSWORD}
        return await client.post("/users", json=body)

    async with asgi_client(busy_app) as client:
        responses = await asyncio.gather(*(sign_up(client, n) for n in range(FLOOD)))

    assert {r.status_code for r in responses} == {201, 503}
    assert_refused_as_busy(responses)
    assert hasher.most_at_once == 1
    async with committed_database.transaction() as tx:
        emails = set(await tx.connection.scalars(select(User.email)))
    assert emails == {r.json()["email"] for r in responses if r.status_code == 201}


async def test_a_flood_of_sign_ins_gets_503_and_the_refused_start_no_session(
    busy_app: FastAPI, hasher: WatchedHasher, committed_database: Database
) -> None:
    async with asgi_client(busy_app) as client:
        body = {"email": "crowd@example.com", "name": "Crowd", "password": PASSWORD}
        assert (await client.post("/users", json=body)).status_code == 201
        responses = await asyncio.gather(*(sign_in(client, "crowd@example.com") for _ in range(FLOOD)))

    assert {r.status_code for r in responses} == {200, 503}
    assert_refused_as_busy(responses)
    assert hasher.most_at_once == 1
    signed_in = sum(r.status_code == 200 for r in responses)
    assert await count(committed_database, AuthSession) == signed_in


async def test_the_routes_that_hash_document_the_busy_503(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    hashing = [
        paths["/users"]["post"],
        paths["/auth/token"]["post"],
        paths["/users/me/password"]["put"],
        paths["/auth/reset-password"]["post"],
        # A new email and a deletion ask for the password again.
        paths["/users/{user_id}"]["patch"],
        paths["/users/{user_id}"]["delete"],
    ]

    for operation in hashing:
        busy = operation["responses"]["503"]
        assert "busy hashing passwords" in busy["description"]
        assert "Retry-After" in busy["headers"]
    assert "hashing" not in paths["/users"]["get"]["responses"]["503"]["description"]


async def always_busy(*_args: object) -> Verdict:
    raise HashingBusy


async def test_an_attempt_refused_while_hashing_is_busy_does_not_count(
    app: FastAPI, session: AsyncSession
) -> None:
    """A 503 checked no password: it must not bring an account, or its users' address, nearer to a 429."""
    limit = app.state.auth.settings.login_max_failures
    async with asgi_client(app, address="198.51.100.50") as client:
        email = "busy@example.com"
        created = await client.post("/users", json={"email": email, "name": "Busy", "password": PASSWORD})
        app.state.auth.passwords.verify = always_busy
        refused = [(await sign_in(client, email)).status_code for _ in range(limit + 1)]
        del app.state.auth.passwords.verify
        allowed = await sign_in(client, email)

    assert created.status_code == 201
    assert refused == [503] * (limit + 1)
    assert allowed.status_code == 200


async def test_a_sign_up_refused_while_hashing_is_busy_does_not_count(app: FastAPI) -> None:
    limit = app.state.auth.settings.sign_up_limit_per_address
    passwords = app.state.auth.passwords

    async def busy_hash(_password: str) -> str:
        raise HashingBusy

    async with asgi_client(app, address="198.51.100.51") as client:
        passwords.hash = busy_hash
        refused = [
            (
                await client.post(
                    "/users", json={"email": f"b{n}@example.com", "name": "B", "password": PASSWORD}
                )
            )
            for n in range(limit + 1)
        ]
        del passwords.hash
        allowed = await client.post(
            "/users", json={"email": "late@example.com", "name": "L", "password": PASSWORD}
        )

    assert {response.status_code for response in refused} == {503}
    assert allowed.status_code == 201
