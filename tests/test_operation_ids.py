"""Every operation has a stable operationId, the route function's name, for generated clients.

When a route is added, renamed or removed, change OPERATIONS or SIGN_IN_ONLY below with it: a client
generated from /openapi.json names its methods after these ids, so changing one breaks its callers.
"""

from collections import Counter
from typing import Any

import pytest
from pydantic import SecretStr

from inkwell.config import Settings
from inkwell.main import create_app
from tests.accounts import TEST_SECRET_KEY
from tests.apps import asgi_client

# (method, path) -> operationId, with sign-in on and off alike.
OPERATIONS = {
    ("GET", "/healthz"): "healthz",
    ("GET", "/readyz"): "readyz",
    ("POST", "/users"): "create_user",
    ("GET", "/users"): "list_users",
    ("GET", "/users/{user_id}"): "read_user",
    ("PATCH", "/users/{user_id}"): "update_user",
    ("DELETE", "/users/{user_id}"): "delete_user",
    ("POST", "/users/{user_id}/posts"): "create_post",
    ("GET", "/users/{user_id}/posts"): "list_user_posts",
    ("GET", "/posts"): "list_posts",
    ("GET", "/posts/{post_id}"): "read_post",
    ("PATCH", "/posts/{post_id}"): "update_post",
    ("DELETE", "/posts/{post_id}"): "delete_post",
}

# Only with sign-in on.
SIGN_IN_ONLY = {
    ("POST", "/auth/token"): "sign_in",
    ("POST", "/auth/refresh"): "refresh_tokens",
    ("POST", "/auth/logout"): "sign_out",
    ("GET", "/users/me"): "read_account",
    ("PUT", "/users/me/password"): "change_password",
    ("POST", "/auth/verify/request"): "request_email_verification",
    ("POST", "/auth/verify"): "verify_email",
    ("POST", "/auth/forgot-password"): "forgot_password",
    ("POST", "/auth/reset-password"): "reset_password",
    ("POST", "/auth/confirm-email"): "confirm_email",
}

SIGN_IN = pytest.mark.parametrize("sign_in", [True, False], ids=["sign-in on", "sign-in off"])


async def openapi(*, sign_in: bool) -> dict[str, Any]:
    # The document needs no database: an app that never starts serves it.
    settings = Settings(
        _env_file=None,
        database_url="sqlite:///:memory:",
        auth=sign_in,
        secret_key=SecretStr(TEST_SECRET_KEY),
    )
    async with asgi_client(create_app(settings)) as client:
        document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


def operation_ids(document: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (method.upper(), path): operation["operationId"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


@SIGN_IN
async def test_no_two_operations_share_an_id(sign_in: bool) -> None:
    ids = Counter(operation_ids(await openapi(sign_in=sign_in)).values())

    assert [operation_id for operation_id, uses in ids.items() if uses > 1] == []


@SIGN_IN
async def test_each_operation_is_named_after_its_route(sign_in: bool) -> None:
    expected = {**OPERATIONS, **SIGN_IN_ONLY} if sign_in else OPERATIONS

    assert operation_ids(await openapi(sign_in=sign_in)) == expected
