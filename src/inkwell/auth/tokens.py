"""Access tokens (JWT, PyJWT); refresh tokens and mailed account tokens (random, stored hashed)."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"
ISSUER = "inkwell"
# The audience says what the token is for: no other token Inkwell signs can pass as an access token.
ACCESS_AUDIENCE = "inkwell:access"
REQUIRED_CLAIMS = ["sub", "exp", "iat", "sid", "aud", "iss"]


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: str


class InvalidToken(Exception):
    pass


def new_session_id() -> str:
    return secrets.token_hex(16)


def issue_access_token(key: str, *, user_id: int, session_id: str, now: datetime, ttl: int) -> str:
    claims = {
        "iss": ISSUER,
        "aud": ACCESS_AUDIENCE,
        "sub": str(user_id),
        "sid": session_id,
        "iat": now,
        "exp": now + timedelta(seconds=ttl),
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def read_access_token(key: str, token: str) -> AccessClaims:
    """The token's claims, if Inkwell signed it with `key` as an access token and it has not expired.

    Only HS256 is accepted, so `alg: none` and tokens signed with another algorithm are refused.
    """
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=ACCESS_AUDIENCE,
            issuer=ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
        user_id = int(claims["sub"])
        session_id = claims["sid"]
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken from exc
    if not isinstance(session_id, str):
        raise InvalidToken
    return AccessClaims(user_id=user_id, session_id=session_id)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_account_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a random token: its SHA-256 (the token is random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
