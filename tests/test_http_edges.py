"""What any client can send at the HTTP level: oversized bodies, unknown routes, and no 500s."""

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import exc as sa_exc

from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.error_handlers import database_unavailable
from inkwell.main import create_app
from tests.accounts import PASSWORD, Account

LIMIT = 1024 * 1024


async def test_body_over_the_limit_by_content_length_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"email": "a@example.com", "name": "' + b"x" * LIMIT + b'"}'

    response = await client.post("/users", content=body, headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large"}


async def test_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "a@example.com", "name": "'
        for _ in range(20):
            yield b"x" * (LIMIT // 16)
        yield b'"}'

    response = await client.post("/users", content=chunks(), headers={"content-type": "application/json"})

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body too large"}


async def test_the_limit_is_configurable(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_body_bytes": 64}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkwell.test") as client:
        response = await client.post("/users", json={"email": "a@example.com", "name": "x" * 64})

    assert response.status_code == 413


async def test_body_under_the_limit_passes(client: httpx.AsyncClient) -> None:
    account = {"email": "a@example.com", "name": "Ada", "bio": "x" * 500, "password": PASSWORD}

    response = await client.post("/users", json=account)

    assert response.status_code == 201


async def test_unknown_route_and_method_are_json(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nowhere")
    wrong_method = await client.put("/users")

    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    assert (wrong_method.status_code, wrong_method.json()) == (405, {"detail": "Method Not Allowed"})


async def test_wrong_content_type_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users", content=b"email=a@example.com", headers={"content-type": "text/plain"}
    )

    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("POST", "/users", {"email": "x@example.com", "name": "bad\x00"}),
        ("GET", "/users/99999999999999999999999", None),
        ("GET", "/users?limit=-5", None),
        ("PATCH", "/users/{me}", {"name": None}),
    ],
)
async def test_client_mistakes_leave_no_error_in_the_log(
    client: httpx.AsyncClient,
    account: Account,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    payload: object,
) -> None:
    # Signed in, so that each request is refused for its mistake rather than for a missing token.
    with caplog.at_level(logging.DEBUG):
        response = await client.request(
            method, path.format(me=account.id), json=payload, headers=account.headers
        )

    assert 400 <= response.status_code < 500
    assert response.status_code not in (401, 403)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_an_unreachable_database_is_503_with_retry_after(settings: Settings) -> None:
    down = settings.model_copy(
        update={"database_url": "postgresql://nobody@127.0.0.1:9/none", "db_pool_timeout": 1}
    )
    engine = create_engine(down)
    app = create_app(down, database=Database(engine))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkwell.test") as client:
        # A sign-up needs no token, and reaches the database (its throttle, then the insert).
        response = await client.post(
            "/users", json={"email": "a@example.com", "name": "A", "password": PASSWORD}
        )
    await engine.dispose()

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/users", "GET, POST"),
        ("/users/1", "DELETE, GET, PATCH"),
        ("/users/1/posts", "GET, POST"),
        ("/posts/1", "DELETE, GET, PATCH"),
    ],
)
async def test_405_lists_every_method_the_path_allows(
    client: httpx.AsyncClient, path: str, allowed: str
) -> None:
    # Paths served by several routes used to name only the first route's methods.
    response = await client.request("OPTIONS", path)

    assert response.status_code == 405
    assert response.headers["allow"] == allowed


async def test_a_body_that_is_not_utf8_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users", content=b'{"email": "\xff"}', headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json() == {"detail": "There was an error parsing the body"}


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "invalidated", "unavailable"),
    [
        ("57P01", False, True),  # terminating connection due to administrator command
        ("57P03", False, True),  # the database system is starting up
        ("08006", False, True),  # connection failure
        ("53300", False, True),  # too many connections
        ("23505", False, False),  # a unique violation is the statement's fault, not the server's
        ("XX000", True, True),  # whatever it says, a connection that died means the server went away
    ],
)
def test_driver_errors_that_mean_the_database_is_away(
    sqlstate: str, invalidated: bool, unavailable: bool
) -> None:
    error = sa_exc.DBAPIError("SELECT 1", None, DriverError(sqlstate), connection_invalidated=invalidated)

    assert database_unavailable(error) is unavailable
