"""The users routes: the tutorial's contract, and what the tutorial got wrong."""

import json
import re

import httpx
import pytest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inkwell.orm import utcnow
from inkwell.users.models import User
from inkwell.users.schemas import Name
from tests.factories import make_post, make_user


async def test_create_user_returns_201_with_the_user(open_client: httpx.AsyncClient) -> None:
    response = await open_client.post("/users", json={"email": "ada@example.com", "name": "Ada"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "name", "bio", "created_at", "updated_at"}
    assert body["email"] == "ada@example.com"
    assert body["name"] == "Ada"
    assert body["bio"] is None


async def test_create_user_with_taken_email_is_409(open_client: httpx.AsyncClient) -> None:
    await open_client.post("/users", json={"email": "ada@example.com", "name": "Ada"})

    response = await open_client.post("/users", json={"email": "ada@example.com", "name": "Other"})

    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}


async def test_emails_differing_only_in_case_are_the_same_email(open_client: httpx.AsyncClient) -> None:
    first = await open_client.post("/users", json={"email": "Ada@Example.COM", "name": "Ada"})
    second = await open_client.post("/users", json={"email": "ada@example.com", "name": "Ada"})

    assert first.status_code == 201
    assert first.json()["email"] == "ada@example.com"
    assert second.status_code == 409


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "No email"},
        {"email": "not-an-email", "name": "Ada"},
        {"email": "ada@example.com"},
        {"email": "ada@example.com", "name": ""},
        {"email": "ada@example.com", "name": "x" * 101},
        {"email": "ada@example.com", "name": None},
        {"email": "ada@example.com", "name": "Ada", "bio": "x" * 501},
        {"email": f"{'a' * 250}@example.com", "name": "Ada"},
    ],
)
async def test_create_user_with_invalid_fields_is_422(
    open_client: httpx.AsyncClient, payload: dict[str, object]
) -> None:
    response = await open_client.post("/users", json=payload)

    assert response.status_code == 422
    assert "detail" in response.json()


@pytest.mark.parametrize("text", ["nul\x00byte", "lone \ud800 surrogate"])
async def test_text_that_no_database_can_store_is_422(open_client: httpx.AsyncClient, text: str) -> None:
    # Written as JSON escapes (\u0000, \ud800), as a client would send them.
    content = json.dumps({"email": "ada@example.com", "name": text})

    response = await open_client.post("/users", content=content, headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


# Line feed, carriage return, tab, escape, next line (U+0085), the line and paragraph separators, a
# right-to-left override, a zero-width space, a byte order mark, and a tag character beyond the BMP.
NOT_ON_ONE_LINE = ["Ada\nBcc: x", "Ada\r\n", "A\tda", "\x1b[31mAda", "Ada\x85", "Ada\u2028", "Ada\u2029"]
NOT_ON_ONE_LINE += ["\u202eadA", "A\u200bda", "\ufeffAda", "Ada\U000e0041"]


@pytest.mark.parametrize("name", NOT_ON_ONE_LINE)
async def test_a_name_with_a_line_break_or_an_invisible_character_is_422(
    open_client: httpx.AsyncClient, session: AsyncSession, name: str
) -> None:
    user = await make_user(session)

    created = await open_client.post("/users", json={"email": "ada@example.com", "name": name})
    patched = await open_client.patch(f"/users/{user.id}", json={"name": name})

    for response in (created, patched):
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "name"]
        assert "line breaks" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    "name", ["Ada Lovelace", "Grâce  Hopper", "Ada\u00a0Byron", "Émilie du Châtelet", "李白"]
)
async def test_a_name_with_spaces_and_letters_of_any_script_is_accepted(
    open_client: httpx.AsyncClient, name: str
) -> None:
    response = await open_client.post("/users", json={"email": "ada@example.com", "name": name})

    assert response.status_code == 201
    assert response.json()["name"] == name


def test_the_documented_pattern_of_a_name_is_the_rule_within_the_bmp() -> None:
    names = TypeAdapter(Name)
    pattern = re.compile(names.json_schema()["pattern"])

    for code in [*range(0xD800), *range(0xE000, 0x10000)]:  # surrogates are not text a database stores
        character = chr(code)
        try:
            names.validate_python(character)
        except ValidationError:
            accepted = False
        else:
            accepted = True
        assert accepted == bool(pattern.fullmatch(character)), f"U+{code:04X}"


async def test_malformed_json_is_422(open_client: httpx.AsyncClient) -> None:
    response = await open_client.post(
        "/users", content=b'{"email": "ada@', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_list_users_is_ordered_by_id_and_paginated(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    users = [await make_user(session) for _ in range(5)]

    first_page = await open_client.get("/users", params={"limit": 2})
    second_page = await open_client.get("/users", params={"limit": 2, "offset": 2})

    assert [u["id"] for u in first_page.json()] == [users[0].id, users[1].id]
    assert [u["id"] for u in second_page.json()] == [users[2].id, users[3].id]


async def test_list_users_defaults_to_50(open_client: httpx.AsyncClient, session: AsyncSession) -> None:
    for _ in range(51):
        await make_user(session)

    response = await open_client.get("/users")

    assert len(response.json()) == 50


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": 1_000_000}, {"limit": -1}, {"offset": -1}, {"limit": "x"}],
)
async def test_pagination_out_of_bounds_is_422(
    open_client: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    response = await open_client.get("/users", params=params)

    assert response.status_code == 422


async def test_read_user(open_client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session, name="Grace")

    response = await open_client.get(f"/users/{user.id}")

    assert response.status_code == 200
    assert response.json()["name"] == "Grace"


@pytest.mark.parametrize("user_id", ["999999", "0", "-1", str(2**31), str(2**63), "9" * 40])
async def test_read_missing_user_is_404(open_client: httpx.AsyncClient, user_id: str) -> None:
    response = await open_client.get(f"/users/{user_id}")

    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}


async def test_read_user_with_non_integer_id_is_422(open_client: httpx.AsyncClient) -> None:
    response = await open_client.get("/users/abc")

    assert response.status_code == 422


async def test_timestamps_are_utc_rfc3339(open_client: httpx.AsyncClient) -> None:
    body = (await open_client.post("/users", json={"email": "ada@example.com", "name": "Ada"})).json()
    fetched = (await open_client.get(f"/users/{body['id']}")).json()

    for value in (body["created_at"], body["updated_at"], fetched["created_at"]):
        assert value.endswith(("Z", "+00:00")), value
    assert fetched["created_at"] == body["created_at"]


async def test_patch_changes_only_the_fields_sent(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, email="ada@example.com", name="Ada", bio="Mathematician")

    response = await open_client.patch(f"/users/{user.id}", json={"name": "Augusta"})

    assert response.status_code == 200
    body = response.json()
    assert (body["email"], body["name"], body["bio"]) == ("ada@example.com", "Augusta", "Mathematician")
    assert body["updated_at"] >= body["created_at"]
    assert (await open_client.get(f"/users/{user.id}")).json()["name"] == "Augusta"


async def test_patch_can_clear_the_bio(open_client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session, bio="Something")

    response = await open_client.patch(f"/users/{user.id}", json={"bio": None})

    assert response.status_code == 200
    assert response.json()["bio"] is None


@pytest.mark.parametrize("payload", [{"name": None}, {"email": None}, {"email": "nope"}, {"name": ""}])
async def test_patch_with_invalid_fields_is_422(
    open_client: httpx.AsyncClient, session: AsyncSession, payload: dict[str, object]
) -> None:
    user = await make_user(session)

    response = await open_client.patch(f"/users/{user.id}", json=payload)

    assert response.status_code == 422


async def test_patch_to_another_users_email_is_409(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, email="taken@example.com")
    user = await make_user(session)

    response = await open_client.patch(f"/users/{user.id}", json={"email": "TAKEN@example.com"})

    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered"}


async def test_patch_missing_user_is_404(open_client: httpx.AsyncClient) -> None:
    response = await open_client.patch("/users/424242", json={"name": "x"})

    assert response.status_code == 404


async def test_delete_user_is_204_with_empty_body(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session)

    response = await open_client.delete(f"/users/{user.id}")

    assert response.status_code == 204
    assert response.content == b""
    assert (await open_client.get(f"/users/{user.id}")).status_code == 404


async def test_delete_user_deletes_their_posts(open_client: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session)
    post = await make_post(session, user)

    response = await open_client.delete(f"/users/{user.id}")

    assert response.status_code == 204
    assert (await open_client.get(f"/posts/{post.id}")).status_code == 404


async def test_delete_missing_user_is_404(open_client: httpx.AsyncClient) -> None:
    response = await open_client.delete("/users/424242")

    assert response.status_code == 404
    assert response.json() == {"detail": "User not found"}


async def test_addresses_at_the_testing_domain_are_accepted(open_client: httpx.AsyncClient) -> None:
    response = await open_client.post("/users", json={"email": "Ada@Example.TEST", "name": "Ada"})

    assert response.status_code == 201
    assert response.json()["email"] == "ada@example.test"


@pytest.mark.parametrize("email", ["ada@host.localhost", "ada@host.invalid", "ada@example"])
async def test_addresses_that_cannot_be_mail_are_422(open_client: httpx.AsyncClient, email: str) -> None:
    response = await open_client.post("/users", json={"email": email, "name": "Ada"})

    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"].startswith("value is not a valid email address")


async def test_a_new_email_is_unverified_and_the_same_one_keeps_its_verification(
    open_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    user = await make_user(session, email="kept@example.com", email_verified_at=utcnow())

    async def verified_after(email: str) -> bool:
        response = await open_client.patch(f"/users/{user.id}", json={"email": email})
        assert response.status_code == 200, response.text
        stored = await session.scalar(select(User.email_verified_at).where(User.id == user.id))
        return stored is not None

    assert await verified_after("kept@example.com") is True
    assert await verified_after("moved@example.com") is False
