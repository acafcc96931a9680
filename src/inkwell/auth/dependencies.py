"""Who is asking: the bearer token read, checked and turned into a Viewer."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.auth import service
from inkwell.auth.errors import InvalidAccessToken
from inkwell.auth.passwords import Passwords
from inkwell.auth.throttle import DatabaseThrottle, RedisThrottle, Throttle
from inkwell.auth.tokens import InvalidToken, read_access_token
from inkwell.cache.store import Cache
from inkwell.config import Settings
from inkwell.db import SessionDep, read_session
from inkwell.errors import NotAuthenticated
from inkwell.idempotency.dependencies import IdempotentRequest, idempotency_in
from inkwell.orm import utcnow
from inkwell.users.models import User

# auto_error off: a missing token is Inkwell's own 401, rendered like every other error.
bearer_token = OAuth2PasswordBearer(tokenUrl="auth/token", auto_error=False)


@dataclass(frozen=True)
class Auth:
    """What signing in needs, built once at start-up (None on the app when sign-in is off)."""

    settings: Settings
    key: str
    passwords: Passwords


@dataclass(frozen=True)
class Viewer:
    """Who sent the request: a signed-in user, or anyone at all when sign-in is off."""

    user: User | None
    session_id: str | None = None

    def may_manage(self, owner_id: int) -> bool:
        """Whether the viewer may change what belongs to user `owner_id` (anything, for an admin)."""
        return self.user is None or self.user.is_admin or self.user.id == owner_id

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_admin


OPEN_VIEWER = Viewer(user=None)


def get_auth(request: Request) -> Auth:
    auth: Auth | None = request.app.state.auth
    assert auth is not None, "sign-in routes are only mounted when sign-in is on"
    return auth


AuthDep = Annotated[Auth, Depends(get_auth)]


async def current_viewer(
    request: Request, session: SessionDep, token: Annotated[str | None, Depends(bearer_token)]
) -> Viewer:
    """The signed-in user (401 without a valid token); anyone when sign-in is off."""
    auth: Auth | None = request.app.state.auth
    if auth is None:
        return OPEN_VIEWER
    return await _signed_in_viewer(auth, session, token)


async def viewer_before_transaction(
    request: Request, token: Annotated[str | None, Depends(bearer_token)]
) -> Viewer:
    """The viewer, read in a session that ends before the request's own transaction (if any) begins.

    For routes that verify a password before they write: no connection, lock or SQLite write lock is
    held while Argon2 runs. Such a route must not also depend on the request's session before it.
    """
    auth: Auth | None = request.app.state.auth
    if auth is None:
        return OPEN_VIEWER
    async with read_session(request.app.state.sessionmaker) as session:
        return await _signed_in_viewer(auth, session, token)


async def _signed_in_viewer(auth: Auth, session: AsyncSession, token: str | None) -> Viewer:
    if token is None:
        raise NotAuthenticated
    try:
        claims = read_access_token(auth.key, token)
    except InvalidToken:
        raise InvalidAccessToken from None
    user = await service.signed_in_user(session, claims, now=utcnow())
    if user is None:
        raise InvalidAccessToken
    return Viewer(user=user, session_id=claims.session_id)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
ViewerBeforeTransactionDep = Annotated[Viewer, Depends(viewer_before_transaction)]
# For routes that only need someone signed in: `dependencies=[SignedIn]`.
SignedIn = Depends(current_viewer)


def signed_in_user(viewer: ViewerDep) -> User:
    """The viewer's own account (routes that use it exist only when sign-in is on)."""
    assert viewer.user is not None
    return viewer.user


AccountDep = Annotated[User, Depends(signed_in_user)]


def viewer_scope(viewer: ViewerDep) -> str:
    """Idempotency keys are the signed-in user's own: two users' equal keys never meet."""
    return "anonymous" if viewer.user is None else f"user:{viewer.user.id}"


ViewerIdempotencyDep = Annotated[IdempotentRequest, idempotency_in(viewer_scope)]


def get_throttle(request: Request) -> Throttle:
    """Counts in Redis when it is configured, in the database otherwise (and while Redis fails)."""
    in_database = DatabaseThrottle(request.app.state.sessionmaker)
    cache: Cache | None = request.app.state.cache
    if cache is None:
        return in_database
    settings: Settings = request.app.state.settings
    return RedisThrottle(cache.redis, prefix=settings.redis_prefix, fallback=in_database)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ThrottleDep = Annotated[Throttle, Depends(get_throttle)]
AddressDep = Annotated[str, Depends(client_address)]


def sessionmaker_of(request: Request) -> async_sessionmaker[AsyncSession]:
    """For the routes that run transactions of their own (see `inkwell.auth.signin`)."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return sessionmaker


SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(sessionmaker_of)]
