"""Access tokens: only an unexpired HS256 access token that Inkwell signed, for an open session, passes."""

import base64
import json
import warnings
from datetime import timedelta

import httpx
import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from inkwell.auth.tokens import (
    ACCESS_AUDIENCE,
    ISSUER,
    AccessClaims,
    InvalidToken,
    VerifiedAccessTokens,
    issue_access_token,
)
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


def access_token(*, user_id: int = 7, ttl: int = 60, key: str = TEST_SECRET_KEY) -> str:
    return issue_access_token(key, user_id=user_id, session_id="s" * 32, now=utcnow(), ttl=ttl)


def counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    decoded: list[str] = []
    decode = jwt.decode

    def counted(token: str, *args: object, **kwargs: object) -> object:
        decoded.append(token)
        return decode(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counted)
    return decoded


def test_a_token_seen_again_is_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens, token = VerifiedAccessTokens(TEST_SECRET_KEY), access_token()
    decoded = counting_decodes(monkeypatch)

    first, second = tokens.read(token), tokens.read(token)

    assert first == second == AccessClaims(user_id=7, session_id="s" * 32)
    assert decoded == [token]


def test_a_remembered_token_stops_passing_when_it_expires() -> None:
    tokens, token = VerifiedAccessTokens(TEST_SECRET_KEY), access_token(ttl=60)
    expires = int(claims_of_token(token)["exp"])  # type: ignore[call-overload]
    tokens.read(token)

    assert tokens.read(token, now=expires - 1).user_id == 7
    with pytest.raises(InvalidToken):
        tokens.read(token, now=expires)


def test_invalid_tokens_are_never_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = VerifiedAccessTokens(TEST_SECRET_KEY)
    wrong_key = access_token(key="another-key-of-at-least-32-bytes-0123456789")
    decoded = counting_decodes(monkeypatch)

    for _ in range(2):
        with pytest.raises(InvalidToken):
            tokens.read(wrong_key)

    assert decoded == [wrong_key, wrong_key]
    assert len(tokens) == 0


def test_the_remembered_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = VerifiedAccessTokens(TEST_SECRET_KEY, size=2)
    oldest, middle, newest = (access_token(user_id=user_id) for user_id in (1, 2, 3))
    for token in (oldest, middle, newest):
        tokens.read(token)
    decoded = counting_decodes(monkeypatch)

    assert tokens.read(oldest).user_id == 1

    assert len(tokens) == 2
    assert decoded == [oldest]


def claims_of_token(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})
