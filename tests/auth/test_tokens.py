"""Access tokens: only an unexpired HS256 access token that Inkwell signed, for an open session, passes."""

import base64
import json
import warnings
from datetime import timedelta

import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from inkwell.auth.tokens import ACCESS_AUDIENCE, ISSUER, issue_access_token
from inkwell.orm import utcnow
from tests.accounts import TEST_SECRET_KEY, Account, bearer, new_account


def claims_of(account: Account) -> dict[str, object]:
    return jwt.decode(account.access_token, options={"verify_signature": False})


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged(account: Account, *, key: str = TEST_SECRET_KEY, **changes: object) -> str:
    claims = {**claims_of(account), **changes}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="HS256")


async def test_the_access_token_names_its_user_session_and_purpose(account: Account) -> None:
    claims = claims_of(account)
    header = jwt.get_unverified_header(account.access_token)

    assert header["alg"] == "HS256"
    assert claims["sub"] == str(account.id)
    assert claims["aud"] == ACCESS_AUDIENCE
    assert claims["iss"] == ISSUER
    assert isinstance(claims["sid"], str)
    assert claims["exp"] - claims["iat"] == 15 * 60  # type: ignore[operator]


async def test_a_valid_token_passes(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.get("/users/me", headers=account.headers)

    assert response.status_code == 200
    assert response.json()["id"] == account.id
    assert "password" not in response.text


def unsigned(account: Account) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_of(account))}."


def other_algorithm(account: Account) -> str:
    # The right key, another HMAC: only HS256 is accepted. (PyJWT warns that the key is short for it.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims_of(account), TEST_SECRET_KEY, algorithm="HS512")


def tampered(account: Account) -> str:
    header, _, signature = account.access_token.split(".")
    return f"{header}.{b64({**claims_of(account), 'sub': str(account.id + 1)})}.{signature}"


FORGERIES = {
    "alg none": unsigned,
    "wrong key": lambda a: forged(a, key="another-key-of-at-least-32-bytes-0123456789"),
    "tampered claim": tampered,
    "expired": lambda a: forged(a, exp=int((utcnow() - timedelta(seconds=1)).timestamp())),
    "other audience": lambda a: forged(a, aud="inkwell:refresh"),
    "other issuer": lambda a: forged(a, iss="someone-else"),
    "no session": lambda a: forged(a, sid=None),
    "no expiry": lambda a: forged(a, exp=None),
    "unknown session": lambda a: forged(a, sid="0" * 32),
    "not a number": lambda a: forged(a, sub="admin"),
    "another algorithm": lambda a: other_algorithm(a),
    "garbage": lambda a: "not.a.token",
    "refresh token": lambda a: a.refresh_token,
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
async def test_a_forged_token_is_401(client: httpx.AsyncClient, account: Account, forgery) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/users/me", headers=bearer(forgery(account)))

    assert response.status_code == 401
    assert response.json() == {"detail": "Could not validate credentials"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_token_for_another_users_session_is_401(client: httpx.AsyncClient, account: Account) -> None:
    other = await new_account(client)
    # Signed with the right key, but pairs one user with another's session.
    token = issue_access_token(
        TEST_SECRET_KEY, user_id=other.id, session_id=str(claims_of(account)["sid"]), now=utcnow(), ttl=60
    )

    response = await client.get("/users/me", headers=bearer(token))

    assert response.status_code == 401


@pytest.mark.parametrize("header", ["Bearer", "Basic abc", "bearer", "Token x"])
async def test_a_malformed_authorization_header_is_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/users", headers={"Authorization": header})

    assert response.status_code == 401
