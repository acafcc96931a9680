"""Access tokens (JWT, PyJWT); refresh tokens and mailed account tokens (random, stored hashed)."""

import hashlib
import secrets
import time
from collections import OrderedDict
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


def _verified(key: str, token: str) -> tuple[AccessClaims, int]:
    """The claims of a token Inkwell signed with `key` as an access token, and when it expires (seconds
    since the epoch). Only HS256 is accepted, so `alg: none` and tokens signed with another algorithm are
    refused."""
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
        expires = int(claims["exp"])
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken from exc
    if not isinstance(session_id, str):
        raise InvalidToken
    return AccessClaims(user_id=user_id, session_id=session_id), expires


class VerifiedAccessTokens:
    """Reads access tokens signed with `key` (InvalidToken unless valid and unexpired), remembering those
    it has verified.

    A signed-in client sends the same token with every request until it refreshes it: seen again, the token
    costs a lookup and a check of its expiry rather than its signature and claims checked again (tens of
    microseconds). Only valid tokens are remembered, by their SHA-256 (never the token itself), the least
    recently used leaving first. Nothing about the session is remembered: the caller still checks in the
    database, on every request, that the session is open.
    """

    def __init__(self, key: str, *, size: int = 4096) -> None:
        self._key = key
        self._size = size
        self._verified: OrderedDict[str, tuple[AccessClaims, int]] = OrderedDict()

    def read(self, token: str, *, now: float | None = None) -> AccessClaims:
        digest = token_digest(token)
        found = self._verified.get(digest)
        if found is None:
            found = _verified(self._key, token)
            self._verified[digest] = found
            if len(self._verified) > self._size:
                self._verified.popitem(last=False)
        else:
            self._verified.move_to_end(digest)
        claims, expires = found
        if (time.time() if now is None else now) >= expires:  # as PyJWT: expired from `exp` on
            raise InvalidToken
        return claims

    def __len__(self) -> int:
        return len(self._verified)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_account_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a random token: its SHA-256 (the token is random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
