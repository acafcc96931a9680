"""Sign-up with a password, sign-in through the OAuth2 password flow, and the throttle on failures."""

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from inkwell.auth.models import ThrottleCounter
from inkwell.config import Settings
from inkwell.db import Database
from inkwell.orm import utcnow
from inkwell.users.models import User
from tests.accounts import PASSWORD, Account, count_verifications, new_account, sign_in, sign_up
from tests.apps import app_counting_in, asgi_client
from tests.test_round_trips import recorded_statements

ADA = {"email": "ada@example.com", "name": "Ada"}

# --- sign-up ---


async def test_sign_up_needs_a_password(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json={"email": "ada@example.com", "name": "Ada"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


@pytest.mark.parametrize("password", ["7chars!", "x" * 129, "nul\x00inside", None, 12345678])
async def test_a_password_outside_the_rules_is_422_and_never_echoed(
    client: httpx.AsyncClient, password: object
) -> None:
    response = await client.post(
        "/users", json={"email": "ada@example.com", "name": "Ada", "password": password}
    )

    assert response.status_code == 422
    assert all("input" not in error for error in response.json()["detail"])


async def test_sign_ups_from_one_address_are_limited(app: FastAPI, session: AsyncSession) -> None:
    limit = app.state.auth.settings.sign_up_limit_per_address
    async with asgi_client(app, address="198.51.100.40") as client:
        answers = [
            await client.post(
                "/users", json={"email": f"new{n}@example.com", "name": "New", "password": PASSWORD}
            )
            for n in range(limit + 1)
        ]
    async with asgi_client(app, address="198.51.100.41") as elsewhere:
        other = await elsewhere.post(
            "/users", json={"email": "other@example.com", "name": "Other", "password": PASSWORD}
        )

    assert [a.status_code for a in answers] == [201] * limit + [429]
    assert answers[-1].json() == {"detail": "Too many sign-ups from this address; try again later"}
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert await session.scalar(select(User.id).where(User.email == f"new{limit}@example.com")) is None
    assert other.status_code == 201


async def test_a_sign_up_past_its_addresses_limit_costs_no_statement_and_no_validation(
    app: FastAPI, engine: AsyncEngine
) -> None:
    limit = app.state.auth.settings.sign_up_limit_per_address
    async with asgi_client(app, address="198.51.100.43") as client:
        for n in range(limit + 1):  # the last one refused: the app now knows the address is past it
            await client.post(
                "/users", json={"email": f"flood{n}@example.com", "name": "F", "password": PASSWORD}
            )
        with recorded_statements(engine) as statements:
            valid = await client.post(
                "/users", json={"email": "more@example.com", "name": "More", "password": PASSWORD}
            )
            invalid = await client.post("/users", json={"email": "not an email", "password": "short"})

    assert (valid.status_code, invalid.status_code) == (429, 429)
    assert statements == []


COMMON = "Value error, must not be one of the most common passwords"


async def test_with_sign_in_off_sign_ups_are_not_limited(open_app: FastAPI) -> None:
    """The tutorial's open API keeps its contract: no limit on sign-ups from one address."""
    limit = open_app.state.settings.sign_up_limit_per_address
    async with asgi_client(open_app, address="198.51.100.42") as client:
        statuses = [
            (await client.post("/users", json={"email": f"open{n}@example.com", "name": "Open"})).status_code
            for n in range(limit + 1)
        ]

    assert statuses == [201] * (limit + 1)


@pytest.mark.parametrize("password", ["password", "12345678", "PassWord", "iloveyou", "QWERTYUIOP"])
async def test_a_common_password_is_422_and_never_echoed(client: httpx.AsyncClient, password: str) -> None:
    response = await client.post(
        "/users", json={"email": "ada@example.com", "name": "Ada", "password": password}
    )

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["msg"]) == (["body", "password"], COMMON)
    assert "input" not in error


@pytest.mark.parametrize("length", [8, 128])
async def test_a_password_of_8_to_128_characters_is_accepted(client: httpx.AsyncClient, length: int) -> None:
    _, email = await sign_up(client, password="p" * length)

    assert (await sign_in(client, email, "p" * length)).status_code == 200


async def test_the_password_is_stored_as_an_argon2id_hash(account: Account, session: AsyncSession) -> None:
    stored = await session.scalar(select(User.password_hash).where(User.id == account.id))

    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_with_sign_in_off_the_password_is_optional(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    without = await open_client.post("/users", json={"email": "open@example.com", "name": "Open"})
    with_one = await open_client.post(
        "/users", json={"email": "kept@example.com", "name": "Kept", "password": "kept for later"}
    )

    assert without.status_code == 201
    assert with_one.status_code == 201
    stored = await session.scalar(select(User.password_hash).where(User.email == "kept@example.com"))
    assert stored is not None
    assert stored.startswith("$argon2id$")


# --- sign-in ---


async def test_a_wrong_password_and_an_unknown_email_get_the_same_401(
    client: httpx.AsyncClient, account: Account
) -> None:
    wrong = await sign_in(client, account.email, "not the password")
    unknown = await sign_in(client, "nobody@example.com", "not the password")

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "Incorrect email or password"}
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"] == "Bearer"


async def test_an_unknown_email_costs_a_hash_verification_too(
    app: FastAPI, client: httpx.AsyncClient, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    hasher = app.state.passwords.hasher
    verified: list[str] = []

    def counting(name: str) -> Callable[..., object]:
        real = getattr(hasher, name)

        def call(*args: object) -> object:
            verified.append(name)
            return real(*args)

        return call

    for name in ("verify", "verify_and_update"):
        monkeypatch.setattr(hasher, name, counting(name))

    await sign_in(client, account.email, "not the password")
    await sign_in(client, "nobody@example.com", "not the password")

    # One Argon2 verification each: against the account's hash, then against a dummy one.
    assert verified == ["verify_and_update", "verify"]


async def test_the_email_is_compared_without_regard_to_case(
    client: httpx.AsyncClient, account: Account
) -> None:
    assert (await sign_in(client, account.email.upper())).status_code == 200


async def test_an_account_without_a_password_cannot_sign_in(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    session.add(User(email="imported@example.com", name="Imported"))
    await session.commit()

    response = await sign_in(client, "imported@example.com", "anything at all")

    assert response.status_code == 401


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"username": "a@example.com"},
        {"password": "x"},
        {"username": "a", "password": "b", "grant_type": "code"},
    ],
)
async def test_an_incomplete_form_is_422(client: httpx.AsyncClient, form: dict[str, str]) -> None:
    response = await client.post("/auth/token", data=form)

    assert response.status_code == 422


LONGEST_EMAIL = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 61  # 254 characters


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"username": "a" * 900_000 + "@example.com", "password": "not the password"}, "username"),
        ({"username": "a" + LONGEST_EMAIL, "password": "not the password"}, "username"),
        ({"username": "nul\x00@example.com", "password": "not the password"}, "username"),
        ({"username": "ada@example.com", "password": "p" * 1025}, "password"),
    ],
    ids=["a 900 kB username", "a username of 255 characters", "a NUL in the username", "a long password"],
)
async def test_an_overlong_or_unstorable_sign_in_is_422_and_counts_no_failure(
    client: httpx.AsyncClient, session: AsyncSession, form: dict[str, str], field: str
) -> None:
    response = await client.post("/auth/token", data=form)

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    # Never echoed: a password is sometimes typed into the username box.
    assert all("input" not in error for error in response.json()["detail"])
    assert list(await session.scalars(select(ThrottleCounter.key))) == []


async def test_the_longest_username_and_password_are_a_plain_401(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    response = await sign_in(client, LONGEST_EMAIL, "p" * 1024)

    assert response.status_code == 401
    digest = hashlib.sha256(LONGEST_EMAIL.encode()).hexdigest()
    assert f"account:{digest}:" in list(await session.scalars(select(ThrottleCounter.key)))


async def test_the_docs_authorize_form_signs_in(client: httpx.AsyncClient, account: Account) -> None:
    # What Swagger UI's Authorize dialog sends: the grant type, an empty scope, and the client's fields.
    form = {"grant_type": "password", "username": account.email, "password": PASSWORD, "scope": ""}
    form |= {"client_id": "", "client_secret": ""}

    response = await client.post("/auth/token", data=form)

    assert response.status_code == 200


async def test_sign_in_with_a_json_body_is_422(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post("/auth/token", json={"username": account.email, "password": PASSWORD})

    assert response.status_code == 422


async def test_a_hash_with_older_parameters_is_replaced_at_sign_in(
    app: FastAPI, client: httpx.AsyncClient, account: Account, session: AsyncSession
) -> None:
    from inkwell.auth.passwords import Passwords

    before = await session.scalar(select(User.password_hash).where(User.id == account.id))
    stronger = app.state.settings.model_copy(update={"password_time_cost": 2})
    app.state.auth = app.state.auth.__class__(
        settings=stronger, key=app.state.auth.key, passwords=Passwords.from_settings(stronger)
    )

    assert (await sign_in(client, account.email)).status_code == 200

    session.expire_all()
    after = await session.scalar(select(User.password_hash).where(User.id == account.id))
    assert before is not None
    assert ",t=1," in before
    assert after is not None
    assert ",t=2," in after
    assert (await sign_in(client, account.email)).status_code == 200


# --- the throttle (3 failures in the test settings) ---


async def fail(client: httpx.AsyncClient, email: str, times: int) -> list[int]:
    return [(await sign_in(client, email, "not the password")).status_code for _ in range(times)]


async def test_repeated_failures_on_an_account_from_one_address_are_429_there_only(
    app: FastAPI, account: Account
) -> None:
    async with (
        asgi_client(app, address="198.51.100.1") as stranger,
        asgi_client(app, address="198.51.100.2") as owner,
    ):
        statuses = await fail(stranger, account.email, 3)
        blocked = await sign_in(stranger, account.email)  # the right password, from there
        allowed = await sign_in(owner, account.email)

    assert statuses == [401, 401, 401]
    assert blocked.status_code == 429
    assert blocked.json() == {"detail": "Too many failed sign-ins; try again later"}
    assert 1 <= int(blocked.headers["Retry-After"]) <= 15 * 60
    assert allowed.status_code == 200


async def test_repeated_failures_on_an_account_from_many_addresses_are_429_from_any(
    app: FastAPI, account: Account
) -> None:
    statuses = []
    for n in range(3):  # two each, under each address's limit: six in all, past the account's five
        async with asgi_client(app, address=f"198.51.100.{10 + n}") as client:
            statuses += await fail(client, account.email, 2)
    async with asgi_client(app, address="198.51.100.20") as owner:
        blocked = await sign_in(owner, account.email)

    assert statuses == [401] * 5 + [429]
    assert blocked.status_code == 429


async def test_repeated_failures_from_an_address_are_429_for_every_account(
    app: FastAPI, account: Account
) -> None:
    async with asgi_client(app, address="198.51.100.7") as client:
        for number in range(6):
            await sign_in(client, f"guess{number}@example.com", "not the password")
        blocked = await sign_in(client, account.email)

    async with asgi_client(app, address="198.51.100.8") as elsewhere:
        allowed = await sign_in(elsewhere, account.email)

    assert blocked.status_code == 429
    assert allowed.status_code == 200


async def test_one_accounts_failures_do_not_lock_out_the_others_at_its_address(
    app: FastAPI, account: Account
) -> None:
    """An address stands for everyone behind one NAT or proxy: its limit is its own, and higher."""
    async with asgi_client(app, address="198.51.100.20") as client:
        _, mistyped = await sign_up(client)
        await fail(client, mistyped, 3)
        locked = await sign_in(client, mistyped)
        colleague = await sign_in(client, account.email)

    assert locked.status_code == 429
    assert colleague.status_code == 200


async def test_sign_in_is_allowed_again_once_the_window_passes(
    app: FastAPI, account: Account, session: AsyncSession
) -> None:
    async with asgi_client(app, address="198.51.100.9") as client:
        await fail(client, account.email, 3)
        assert (await sign_in(client, account.email)).status_code == 429
        await end_windows(app, session)

        assert (await sign_in(client, account.email)).status_code == 200


async def end_windows(app: FastAPI, session: AsyncSession) -> None:
    """Move every throttle window into the past, as waiting would: in the database, and in what the app
    remembers it refused."""
    await session.execute(update(ThrottleCounter).values(window_ends=utcnow() - timedelta(seconds=1)))
    await session.commit()
    window = app.state.auth.settings.login_failure_window
    app.state.throttle.clock = lambda: time.monotonic() + window + 1


async def test_a_successful_sign_in_clears_the_accounts_failures(app: FastAPI, account: Account) -> None:
    async with (
        asgi_client(app, address="198.51.100.10") as one,
        asgi_client(app, address="198.51.100.11") as two,
    ):
        await fail(one, account.email, 2)
        assert (await sign_in(two, account.email)).status_code == 200
        statuses = await fail(one, account.email, 0) + await fail(two, account.email, 2)

    assert statuses == [401, 401]


async def test_a_successful_sign_in_gives_the_address_its_attempt_back(
    app: FastAPI, account: Account
) -> None:
    async with asgi_client(app, address="198.51.100.12") as client:
        for number in range(5):
            await sign_in(client, f"guess{number}@example.com", "not the password")
        successes = [(await sign_in(client, account.email)).status_code for _ in range(3)]
        last_failure = await sign_in(client, "guess5@example.com", "not the password")
        blocked = await sign_in(client, "guess6@example.com", "not the password")

    assert successes == [200, 200, 200]
    assert last_failure.status_code == 401
    assert blocked.status_code == 429


@pytest.fixture(params=["database", "redis"])
async def raced_app(
    request: pytest.FixtureRequest, settings: Settings, engine: AsyncEngine, committed_database: Database
) -> AsyncIterator[FastAPI]:
    """The app on its real engine (what it commits is deleted after), counting attempts in the database
    or in Redis."""
    async with app_counting_in(request, settings, engine) as app:
        yield app


# Other spellings of ada@example.com that MariaDB's collation takes for it: it ignores accents and
# trailing spaces. Counted under each spelling, they would give the account one limit per spelling.
OTHER_SPELLINGS = ["ádá@example.com", "ada@example.com ", "ada@éxample.com"]


async def test_failures_under_other_spellings_of_the_email_count_against_the_account(
    throttled_app: FastAPI, session: AsyncSession
) -> None:
    async with asgi_client(throttled_app, address="198.51.100.32") as client:
        assert (await client.post("/users", json={**ADA, "password": PASSWORD})).status_code == 201
        taken = [await session.scalar(select(User.id).where(User.email == s)) for s in OTHER_SPELLINGS]
        failures = [
            (await sign_in(client, spelling, "not the password")).status_code for spelling in OTHER_SPELLINGS
        ]
        after = await sign_in(client, ADA["email"])

    assert failures == [401] * len(OTHER_SPELLINGS)
    # The limit is 3 here: where the database takes every spelling for Ada's address, she is locked out.
    assert after.status_code == (429 if all(taken) else 200)


async def test_concurrent_wrong_passwords_never_verify_more_than_the_limit(raced_app: FastAPI) -> None:
    verified = count_verifications(raced_app)
    async with asgi_client(raced_app, address="198.51.100.30") as client:
        _, email = await sign_up(client)
        answers = await asyncio.gather(*(sign_in(client, email, "not the password") for _ in range(15)))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [401] * 3 + [429] * 12
    assert len(verified) == 3


# --- nothing secret in the logs ---


async def test_no_password_or_token_reaches_the_logs(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.INFO):
        account = await new_account(client, password="pa55word-for-logs")
        await sign_in(client, account.email, "wrong-pa55word-for-logs")
        pair = (await client.post("/auth/refresh", json={"refresh_token": account.refresh_token})).json()
        await client.put(
            "/users/me/password",
            json={"current_password": "pa55word-for-logs", "new_password": "new-pa55word-for-logs"},
            headers={"Authorization": f"Bearer {pair['access_token']}"},
        )
        await client.post("/users", json={"email": "z@example.com", "name": "Z", "password": "bad"})

    captured = capfd.readouterr()
    output = captured.out + captured.err + caplog.text
    assert "/auth/token" in output  # the request log did run
    for secret in (
        "pa55word-for-logs",
        account.access_token,
        account.refresh_token,
        pair["access_token"],
        pair["refresh_token"],
        "$argon2",
    ):
        assert secret not in output
