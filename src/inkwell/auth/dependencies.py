"""Who is asking: the bearer token read, checked and turned into a Viewer."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from inkwell.auth import service
from inkwell.auth.errors import InvalidAccessToken
from inkwell.auth.keys import Auth
from inkwell.auth.tokens import InvalidToken
from inkwell.db import Database, Transaction
from inkwell.deps import DatabaseDep, OptionalAuthDep, ReadTransactionDep, TransactionDep
from inkwell.errors import NotAuthenticated
from inkwell.idempotency.dependencies import IdempotentRequest, idempotency_in
from inkwell.orm import utcnow
from inkwell.replicas import note_writer
from inkwell.users.models import UserRecord

# auto_error off: a missing token is Inkwell's own 401, rendered like every other error.
bearer_token = OAuth2PasswordBearer(
    tokenUrl="auth/token",
    auto_error=False,
    description="The email and password of an account (sign up with `POST /users` first).",
)


@dataclass(frozen=True)
class Viewer:
    """Who sent the request: a signed-in user, or anyone at all when sign-in is off."""

    user: UserRecord | None
    session_id: str | None = None

    def may_manage(self, owner_id: int) -> bool:
        """Whether the viewer may change what belongs to user `owner_id` (anything, for an admin)."""
        return self.user is None or self.user.is_admin or self.user.id == owner_id

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_admin

    @property
    def only_author(self) -> int | None:
        """The one author whose records the viewer may change (their own id), or None for any: an
        admin, or anyone when sign-in is off. A write names it in its WHERE clause."""
        return None if self.user is None or self.user.is_admin else self.user.id


OPEN_VIEWER = Viewer(user=None)


async def current_viewer(
    auth: OptionalAuthDep, tx: TransactionDep, token: Annotated[str | None, Depends(bearer_token)]
) -> Viewer:
    """The signed-in user (401 without a valid token), read in the request's transaction; anyone
    when sign-in is off."""
    if auth is None:
        return OPEN_VIEWER
    return await _signed_in_viewer(auth, tx, token)


BearerTokenDep = Annotated[str | None, Depends(bearer_token)]


async def current_reader(auth: OptionalAuthDep, tx: ReadTransactionDep, token: BearerTokenDep) -> Viewer:
    """`current_viewer`, for the routes that may read slightly old data: read in their read transaction,
    which is on a replica that has replayed the viewer's own last writes (their sign-in included)."""
    if auth is None:
        return OPEN_VIEWER
    return await _signed_in_viewer(auth, tx, token)


async def viewer_before_transaction(
    auth: OptionalAuthDep, database: DatabaseDep, token: BearerTokenDep
) -> Viewer:
    """The viewer, read in a transaction that ends before the request's own (if any) begins.

    For routes that verify a password before they write: no connection, lock or SQLite write lock is
    held while Argon2 runs. Such a route must not also depend on the request's transaction before it.
    """
    if auth is None:
        return OPEN_VIEWER
    return await read_viewer_apart(auth, database, token)


async def read_viewer_apart(auth: Auth, database: Database, token: str | None) -> Viewer:
    """The signed-in viewer, read on a connection of its own (`viewer_before_transaction`), for a
    dependency that needs it only for some requests."""
    async with database.reads() as tx:
        return await _signed_in_viewer(auth, tx, token)


async def _signed_in_viewer(auth: Auth, tx: Transaction, token: str | None) -> Viewer:
    if token is None:
        raise NotAuthenticated
    try:
        claims = auth.access_tokens.read(token)
    except InvalidToken:
        raise InvalidAccessToken from None
    user = await service.signed_in_user(tx, claims, now=utcnow())
    if user is None:
        raise InvalidAccessToken
    note_writer(user.id)  # whatever the request writes, its user's next reads must see
    return Viewer(user=user, session_id=claims.session_id)


ViewerDep = Annotated[Viewer, Depends(current_viewer)]
ReaderDep = Annotated[Viewer, Depends(current_reader)]
ViewerBeforeTransactionDep = Annotated[Viewer, Depends(viewer_before_transaction)]
# For routes that only need someone signed in: `dependencies=[SignedIn]`.
SignedIn = Depends(current_viewer)


async def signed_in_user(viewer: ViewerDep) -> UserRecord:
    """The viewer's own account (routes that use it exist only when sign-in is on)."""
    assert viewer.user is not None
    return viewer.user


AccountDep = Annotated[UserRecord, Depends(signed_in_user)]


async def viewer_id(viewer: ViewerDep) -> int | None:
    """Idempotency keys are the signed-in user's own: two users' equal keys never meet."""
    return None if viewer.user is None else viewer.user.id


ViewerIdempotencyDep = Annotated[IdempotentRequest, idempotency_in(viewer_id)]


async def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


AddressDep = Annotated[str, Depends(client_address)]
