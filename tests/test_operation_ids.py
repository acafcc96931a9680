"""Every operation has a stable operationId, the route function's name, for generated clients.

A client generated from /openapi.json names its methods after these ids, so changing one breaks its
callers: the tutorial's operations keep theirs (TUTORIAL below), and every route, those added since
included, is named after its function (walked from the app's own routes).
"""

from collections import Counter
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import SecretStr

from inkwell.config import Settings
from inkwell.main import create_app
from tests.accounts import TEST_SECRET_KEY
from tests.apps import asgi_client

# (method, path) -> operationId of the tutorial's operations, with sign-in on and off alike.
TUTORIAL = {
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

SIGN_IN = pytest.mark.parametrize("sign_in", [True, False], ids=["sign-in on", "sign-in off"])


def settings_for(*, sign_in: bool) -> Settings:
    return Settings(
        _env_file=None,
        database_url="sqlite:///:memory:",
        auth=sign_in,
        secret_key=SecretStr(TEST_SECRET_KEY),
    )


async def openapi(*, sign_in: bool) -> dict[str, Any]:
    # The document needs no database: an app that never starts serves it.
    async with asgi_client(create_app(settings_for(sign_in=sign_in))) as client:
        document: dict[str, Any] = (await client.get("/openapi.json")).json()
    return document


def route_names(*, sign_in: bool) -> dict[tuple[str, str], str]:
    """(method, path) -> the name of the function of every route the app documents."""
    return {
        (method, str(route.path_format).replace(":user_id", "")): str(route.name)
        for route in iter_route_contexts(create_app(settings_for(sign_in=sign_in)).routes)
        if isinstance(route.original_route, APIRoute) and route.include_in_schema
        for method in route.methods or ()
    }


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
    assert operation_ids(await openapi(sign_in=sign_in)) == route_names(sign_in=sign_in)


@SIGN_IN
async def test_the_tutorials_operations_keep_their_ids(sign_in: bool) -> None:
    ids = operation_ids(await openapi(sign_in=sign_in))

    assert {key: ids.get(key) for key in TUTORIAL} == TUTORIAL
