"""What the token endpoint and its neighbours answer a body they cannot take.

/auth/token answers its errors the way OAuth2 clients read them (RFC 6749, section 5.2: `error` and
`error_description` beside `detail`), which is what Swagger UI's Authorize dialog shows; /auth/token takes a
form and /auth/refresh JSON, and each says so to a body of the other kind instead of listing missing fields.
"""

import httpx
import pytest

from tests.accounts import Account

FORM_HINT = (
    "POST /auth/token takes a form (content-type: application/x-www-form-urlencoded), not JSON: "
    "send username=...&password=..."
)
JSON_HINT = (
    'POST /auth/refresh takes JSON (content-type: application/json), not a form: send {"refresh_token": ...}'
)


async def test_a_failed_sign_in_says_why_in_oauth2_terms(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.post("/auth/token", data={"username": account.email, "password": "not it at all"})

    assert response.status_code == 401
    assert response.json() == {
        "detail": "Incorrect email or password",
        "error": "invalid_grant",
        "error_description": "Incorrect email or password",
    }


async def test_a_sign_in_form_that_lacks_a_field_is_an_invalid_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/token", data={"username": "ada@example.com"})

    assert response.status_code == 422
    body = response.json()
    assert [error["loc"] for error in body["detail"]] == [["body", "password"]]
    assert (body["error"], body["error_description"]) == ("invalid_request", "password: Field required")


async def test_json_sent_to_the_token_endpoint_is_told_to_send_a_form(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/token", json={"username": "ada@example.com", "password": "secret!"})

    assert response.status_code == 422
    assert response.json() == {
        "detail": [{"type": "media_type", "loc": ["body"], "msg": FORM_HINT}],
        "error": "invalid_request",
        "error_description": f"body: {FORM_HINT}",
    }


@pytest.mark.parametrize("kind", ["data", "files"])
async def test_a_form_sent_to_refresh_is_told_to_send_json(client: httpx.AsyncClient, kind: str) -> None:
    if kind == "data":
        response = await client.post("/auth/refresh", data={"refresh_token": "abc"})
    else:
        response = await client.post("/auth/refresh", files={"refresh_token": (None, "abc")})

    assert response.status_code == 422
    assert response.json() == {"detail": [{"type": "media_type", "loc": ["body"], "msg": JSON_HINT}]}


async def test_curl_data_without_a_content_type_is_told_to_send_json(client: httpx.AsyncClient) -> None:
    # `curl -d '{...}'` sends JSON labelled as a form.
    content = b'{"email": "ada@example.com", "name": "Ada", "password": "correct horse battery"}'
    headers = {"content-type": "application/x-www-form-urlencoded"}

    response = await client.post("/users", content=content, headers=headers)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["msg"] == (
        "POST /users takes JSON (content-type: application/json), not a form: "
        'send {"email": ..., "name": ..., "password": ...}'
    )


async def test_other_routes_answer_without_oauth2_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/refresh", json={"refresh_token": "not a token"})

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or expired refresh token"}
