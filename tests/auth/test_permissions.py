"""Who may do what, cell by cell, with sign-in on and with it off."""

import logging

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.config import Settings
from inkwell.main import create_app
from tests.accounts import PASSWORD, Account, new_account

PUBLIC_READS = ["/posts", "/posts/{post}", "/users/{owner}/posts"]
# Deleting an account asks for the password of whoever is signed in (every account here has this one).
CONFIRMED = {"current_password": PASSWORD}


async def write_post(client: httpx.AsyncClient, author: Account) -> int:
    response = await client.post(
        f"/users/{author.id}/posts", json={"title": "Mine", "body": "Text"}, headers=author.headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
async def owner(client: httpx.AsyncClient) -> Account:
    return await new_account(client)


@pytest.fixture
async def other(client: httpx.AsyncClient) -> Account:
    return await new_account(client)


# --- anonymous ---


async def test_anyone_may_sign_up_and_sign_in(client: httpx.AsyncClient) -> None:
    account = await new_account(client)

    assert account.access_token


@pytest.mark.parametrize("path", ["/users", "/users/{owner}"])
async def test_anonymous_may_not_read_users(client: httpx.AsyncClient, owner: Account, path: str) -> None:
    response = await client.get(path.format(owner=owner.id))

    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("path", PUBLIC_READS)
async def test_anyone_may_read_posts(client: httpx.AsyncClient, owner: Account, path: str) -> None:
    post_id = await write_post(client, owner)

    response = await client.get(path.format(owner=owner.id, post=post_id))

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/users/{owner}", {"name": "X"}),
        ("DELETE", "/users/{owner}", None),
        ("POST", "/users/{owner}/posts", {"title": "T", "body": "B"}),
        ("PATCH", "/posts/{post}", {"title": "X"}),
        ("DELETE", "/posts/{post}", None),
    ],
)
async def test_anonymous_may_not_write(
    client: httpx.AsyncClient, owner: Account, method: str, path: str, body: object
) -> None:
    post_id = await write_post(client, owner)

    response = await client.request(method, path.format(owner=owner.id, post=post_id), json=body)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_anonymous_is_401_before_the_body_is_checked(client: httpx.AsyncClient, owner: Account) -> None:
    response = await client.patch(f"/users/{owner.id}", json={"name": None})

    assert response.status_code == 401


# --- a signed-in user ---


async def test_a_member_may_read_users(client: httpx.AsyncClient, owner: Account, other: Account) -> None:
    listed = await client.get("/users", headers=other.headers)
    one = await client.get(f"/users/{owner.id}", headers=other.headers)

    assert listed.status_code == 200
    assert {user["id"] for user in listed.json()} >= {owner.id, other.id}
    assert one.status_code == 200
    assert one.json()["name"] == "Ada"


async def test_a_member_sees_no_email_in_the_user_records(
    client: httpx.AsyncClient, owner: Account, other: Account
) -> None:
    listed = await client.get("/users", headers=other.headers)
    one = await client.get(f"/users/{owner.id}", headers=other.headers)
    own = await client.get(f"/users/{other.id}", headers=other.headers)

    for response in (listed, one, own):
        assert response.status_code == 200
        assert "email" not in response.text
        assert "@" not in response.text
    assert set(one.json()) == {"id", "name", "bio", "created_at", "updated_at"}


async def test_the_account_sees_its_own_email(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/users", json={"email": "self@example.com", "name": "Self", "password": PASSWORD}
    )
    tokens = (
        await client.post("/auth/token", data={"username": "self@example.com", "password": PASSWORD})
    ).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = await client.get("/users/me", headers=headers)
    changed = await client.patch(f"/users/{created.json()['id']}", json={"bio": "Hi"}, headers=headers)

    assert created.status_code == 201
    for response in (created, me, changed):
        assert response.json()["email"] == "self@example.com"


async def test_a_replayed_sign_up_answers_the_same_body(client: httpx.AsyncClient) -> None:
    body = {"email": "twice@example.com", "name": "Twice", "password": PASSWORD}
    key = {"Idempotency-Key": "sign-up-twice"}

    first = await client.post("/users", json=body, headers=key)
    again = await client.post("/users", json=body, headers=key)

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.json()["email"] == "twice@example.com"


async def test_a_member_may_change_their_own_account(client: httpx.AsyncClient, owner: Account) -> None:
    renamed = await client.patch(f"/users/{owner.id}", json={"name": "Grace"}, headers=owner.headers)
    deleted = await client.request("DELETE", f"/users/{owner.id}", json=CONFIRMED, headers=owner.headers)

    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Grace"
    assert deleted.status_code == 204


async def test_a_member_may_write_and_change_their_own_posts(
    client: httpx.AsyncClient, owner: Account
) -> None:
    post_id = await write_post(client, owner)

    changed = await client.patch(f"/posts/{post_id}", json={"title": "New"}, headers=owner.headers)
    deleted = await client.delete(f"/posts/{post_id}", headers=owner.headers)

    assert changed.status_code == 200
    assert deleted.status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("PATCH", "/users/{owner}", {"name": "X"}, "Only the account's owner or an admin may do this"),
        ("DELETE", "/users/{owner}", None, "Only the account's owner or an admin may do this"),
        (
            "POST",
            "/users/{owner}/posts",
            {"title": "T", "body": "B"},
            "Only the account's owner or an admin may do this",
        ),
        ("PATCH", "/posts/{post}", {"title": "X"}, "Only the post's author or an admin may do this"),
        ("DELETE", "/posts/{post}", None, "Only the post's author or an admin may do this"),
    ],
)
async def test_a_member_may_not_change_what_is_not_theirs(
    client: httpx.AsyncClient,
    owner: Account,
    other: Account,
    method: str,
    path: str,
    body: object,
    detail: str,
) -> None:
    post_id = await write_post(client, owner)

    response = await client.request(
        method, path.format(owner=owner.id, post=post_id), json=body, headers=other.headers
    )

    assert response.status_code == 403
    assert response.json() == {"detail": detail}
    unchanged = await client.get(f"/posts/{post_id}")
    assert unchanged.json()["title"] == "Mine"


async def test_a_member_gets_403_not_404_for_an_account_that_does_not_exist(
    client: httpx.AsyncClient, other: Account
) -> None:
    response = await client.patch("/users/999999", json={"name": "X"}, headers=other.headers)

    assert response.status_code == 403


async def test_a_member_may_not_make_themselves_admin(
    client: httpx.AsyncClient, owner: Account, other: Account, session: AsyncSession
) -> None:
    response = await client.patch(
        f"/users/{owner.id}", json={"name": "Ada", "is_admin": True}, headers=owner.headers
    )
    me = await client.get("/users/me", headers=owner.headers)
    trespass = await client.delete(f"/users/{other.id}", headers=owner.headers)

    assert response.status_code == 200
    assert "is_admin" not in response.json()
    assert me.json()["is_admin"] is False
    assert trespass.status_code == 403


async def test_signing_up_as_admin_is_ignored(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/users",
        json={
            "email": "sly@example.com",
            "name": "Sly",
            "password": "sly fox in the henhouse",
            "is_admin": True,
        },
    )
    tokens = await client.post(
        "/auth/token", data={"username": "sly@example.com", "password": "sly fox in the henhouse"}
    )
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {tokens.json()['access_token']}"})

    assert created.status_code == 201
    assert me.json()["is_admin"] is False


# --- an admin ---


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("PATCH", "/users/{owner}", {"name": "X"}, 200),
        ("POST", "/users/{owner}/posts", {"title": "T", "body": "B"}, 201),
        ("PATCH", "/posts/{post}", {"title": "X"}, 200),
        ("DELETE", "/posts/{post}", None, 204),
        ("DELETE", "/users/{owner}", CONFIRMED, 204),
    ],
)
async def test_an_admin_may_change_anything(
    client: httpx.AsyncClient,
    owner: Account,
    admin: Account,
    method: str,
    path: str,
    body: object,
    expected: int,
) -> None:
    post_id = await write_post(client, owner)

    response = await client.request(
        method, path.format(owner=owner.id, post=post_id), json=body, headers=admin.headers
    )

    assert response.status_code == expected, response.text


async def test_an_admin_sees_every_email(
    client: httpx.AsyncClient, owner: Account, other: Account, admin: Account
) -> None:
    listed = await client.get("/users", headers=admin.headers)
    one = await client.get(f"/users/{owner.id}", headers=admin.headers)

    emails = {user["id"]: user["email"] for user in listed.json()}
    assert {owner.id: owner.email, other.id: other.email, admin.id: admin.email}.items() <= emails.items()
    assert one.json()["email"] == owner.email


async def test_an_admin_gets_404_for_what_does_not_exist(client: httpx.AsyncClient, admin: Account) -> None:
    user = await client.patch("/users/999999", json={"name": "X"}, headers=admin.headers)
    post = await client.delete("/posts/999999", headers=admin.headers)

    assert user.status_code == 404
    assert post.status_code == 404


# --- sign-in off: the tutorial's open API ---


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("GET", "/users", None, 200),
        ("GET", "/users/{owner}", None, 200),
        ("GET", "/posts/{post}", None, 200),
        ("PATCH", "/users/{owner}", {"name": "X"}, 200),
        ("POST", "/users/{owner}/posts", {"title": "T", "body": "B"}, 201),
        ("PATCH", "/posts/{post}", {"title": "X"}, 200),
        ("DELETE", "/posts/{post}", None, 204),
        ("DELETE", "/users/{owner}", None, 204),
    ],
)
async def test_with_sign_in_off_anyone_may_do_anything(
    open_client: httpx.AsyncClient, method: str, path: str, body: object, expected: int
) -> None:
    owner = (await open_client.post("/users", json={"email": "open@example.com", "name": "Open"})).json()
    post = (await open_client.post(f"/users/{owner['id']}/posts", json={"title": "T", "body": "B"})).json()

    response = await open_client.request(method, path.format(owner=owner["id"], post=post["id"]), json=body)

    assert response.status_code == expected, response.text


async def test_with_sign_in_off_every_user_record_has_the_email(open_client: httpx.AsyncClient) -> None:
    created = await open_client.post("/users", json={"email": "open@example.com", "name": "Open"})
    user_id = created.json()["id"]

    listed = await open_client.get("/users")
    one = await open_client.get(f"/users/{user_id}")
    changed = await open_client.patch(f"/users/{user_id}", json={"bio": "Hi"})

    assert [user["email"] for user in listed.json()] == ["open@example.com"]
    for response in (created, one, changed):
        assert response.json()["email"] == "open@example.com"
    schemas = (await open_client.get("/openapi.json")).json()["components"]["schemas"]
    assert "email" in schemas["UserRead"]["required"]
    assert "PublicUserRead" not in schemas


async def test_with_sign_in_off_there_is_no_sign_in(open_client: httpx.AsyncClient) -> None:
    token = await open_client.post("/auth/token", data={"username": "a@example.com", "password": PASSWORD})
    document = (await open_client.get("/openapi.json")).json()

    assert token.status_code == 404
    assert "securitySchemes" not in document.get("components", {})
    assert all("security" not in op for path in document["paths"].values() for op in path.values())


async def test_the_openapi_document_declares_the_oauth2_password_flow(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    scheme = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["type"] == "oauth2"
    assert scheme["flows"] == {"password": {"scopes": {}, "tokenUrl": "auth/token"}}
    assert "email" in scheme["description"]
    token = document["paths"]["/auth/token"]["post"]
    assert "application/x-www-form-urlencoded" in token["requestBody"]["content"]
    secured = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") == [{"OAuth2PasswordBearer": []}]
    }
    assert secured == {
        ("GET", "/users"),
        ("GET", "/users/{user_id}"),
        ("PATCH", "/users/{user_id}"),
        ("DELETE", "/users/{user_id}"),
        ("POST", "/users/{user_id}/posts"),
        ("PATCH", "/posts/{post_id}"),
        ("DELETE", "/posts/{post_id}"),
        ("POST", "/auth/logout"),
        ("POST", "/auth/verify/request"),
        ("GET", "/users/me"),
        ("PUT", "/users/me/password"),
    }
    assert "password" in document["components"]["schemas"]["UserCreate"]["required"]


async def test_the_openapi_document_keeps_emails_out_of_the_public_user_record(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    paths, schemas = document["paths"], document["components"]["schemas"]

    def schema_of(method: str, path: str) -> dict[str, object]:
        content = paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        return dict(content.get("items", content))

    public = schemas["PublicUserRead"]
    assert "email" not in public["required"]
    assert public["properties"]["email"]["type"] == "string"
    assert (
        schema_of("get", "/users")
        == schema_of("get", "/users/{user_id}")
        == {"$ref": "#/components/schemas/PublicUserRead"}
    )
    assert "email" in schemas["UserRead"]["required"]  # the sign-up's answer, and a change's
    assert "email" in schemas["AccountRead"]["required"]


def test_with_sign_in_off_the_server_warns_at_start(
    open_settings: Settings, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        create_app(open_settings)

    assert "sign-in is off (INKWELL_AUTH=off)" in caplog.text + capfd.readouterr().err


def test_with_sign_in_on_the_server_does_not_warn(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        create_app(settings)

    assert "sign-in is off" not in caplog.text


async def test_every_operation_is_listed_under_one_tag(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    tags = {
        (method, path): operation["tags"]
        for path, item in paths.items()
        for method, operation in item.items()
    }
    assert all(len(tagged) == 1 for tagged in tags.values()), tags
    assert tags[("get", "/users/me")] == tags[("put", "/users/me/password")] == ["users"]


async def test_the_account_is_never_kept_by_a_cache_on_the_way(client: httpx.AsyncClient) -> None:
    account = await new_account(client)

    response = await client.get("/users/me", headers=account.headers)

    assert response.headers["Cache-Control"] == "no-store"
