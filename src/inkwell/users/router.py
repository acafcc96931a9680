from typing import Any

from fastapi import APIRouter, Response, status
from starlette.convertors import Convertor, register_url_convertor

from inkwell.auth import emails
from inkwell.auth.dependencies import AddressDep, ReaderDep
from inkwell.conditional import ETAG_HEADER, IfMatchHeader, etag_of, with_etag
from inkwell.db import Transaction
from inkwell.deps import AuthDep, ReadTransactionDep, ThrottleDep, TransactionDep
from inkwell.idempotency.dependencies import IdempotencyDep, IdempotentRequest
from inkwell.links import user_links
from inkwell.pagination import PageDep, page_of
from inkwell.responses import CHANGE_ERRORS, DELETE_ERRORS, answers, responses
from inkwell.users import service
from inkwell.users.dependencies import (
    AccountChangeDep,
    AccountToDeleteId,
    ManagedUserId,
    NewAccount,
    OpenSignUpDep,
    SignUpDep,
    UserToRead,
)
from inkwell.users.models import UserRecord
from inkwell.users.schemas import PublicUserRead, UserRead, UserUpdate


class UserIdSegment(Convertor[str]):
    """A path segment naming a user: anything (FastAPI checks it is an integer, a 422 otherwise) but `me`,
    so that /users/me is a resource of its own, with its own methods, and never taken for a user id."""

    regex = r"(?!me$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("user_id", UserIdSegment())
USER = "/{user_id:user_id}"

# Sign-in on (the default), and the tutorial's open API (sign-in off): the same paths, each router whole.
router = APIRouter(prefix="/users", tags=["users"])
open_router = APIRouter(prefix="/users", tags=["users"])

SIGN_UP: dict[str, Any] = {
    "name": "create_user",
    "response_model": UserRead,
    "status_code": status.HTTP_201_CREATED,
    "responses": answers(201, 400, 409, 413, 422, 429, 503, links=user_links(), hashes_passwords=True),
}
USER_READ = answers(200, 304, 401, 404, 422, 503, links=user_links())
USER_CHANGED = answers(200, *CHANGE_ERRORS, 409, links=user_links())
USER_DELETED = responses(*DELETE_ERRORS)
# With sign-in on, a new email and a deletion ask for the password again: 403 when it is wrong, 429
# past the sign-in throttle's limits (or the mail limits, for a new email), 503 while hashing is busy.
ACCOUNT_CHANGED = {
    **USER_CHANGED,
    **responses(429, 503, hashes_passwords=True),
    202: {
        "model": UserRead,
        "description": "Accepted: the other fields sent are changed, `email` not yet. A token that "
        "confirms it is on its way to the new address (see `POST /auth/confirm-email`); the body is "
        "the user as it is now, with the email it has",
        "links": user_links(),
        "headers": ETAG_HEADER,
    },
}
ACCOUNT_DELETED = responses(400, 401, 403, 404, 412, 413, 422, 429, 503, hashes_passwords=True)


# --- sign-in on ---


@router.post("", **SIGN_UP)
async def create_user(account: SignUpDep, tx: TransactionDep, idempotency: IdempotencyDep) -> Response:
    """Create a user (sign up). The email must not be registered yet (compared without regard to case)."""
    return await _create_user(account, tx, idempotency)


@router.get("", response_model=list[PublicUserRead], responses=responses(401, 422, 503))
async def list_users(
    viewer: ReaderDep, tx: ReadTransactionDep, page: PageDep, response: Response
) -> list[PublicUserRead]:
    """List users in id order; a `Link` header points to the next page. Emails are in an admin's view only."""
    users = page_of(await service.list_users(tx, page=page), page, response)
    return [PublicUserRead.of(user, with_email=viewer.is_admin) for user in users]


@router.get(USER, response_model=PublicUserRead, responses=USER_READ)
async def read_user(viewer: ReaderDep, user: UserToRead) -> PublicUserRead:
    """Fetch one user, with its ETag; 304 when If-None-Match names it. The email is in an admin's view
    only."""
    return PublicUserRead.of(user, with_email=viewer.is_admin)


@router.patch(USER, response_model=UserRead, responses=ACCOUNT_CHANGED)
async def update_user(
    change: AccountChangeDep,
    tx: TransactionDep,
    user_id: ManagedUserId,
    auth: AuthDep,
    throttle: ThrottleDep,
    address: AddressDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> UserRecord:
    """Change the fields sent and leave the others as they are; with If-Match, only if unchanged.

    A new `email` needs `current_password`, the password of whoever is signed in, and changes only once
    the token mailed to it is sent to `POST /auth/confirm-email`: the answer is then 202.
    """
    user = await service.update_user(tx, user_id, changes=change.changes, if_match=if_match)
    if change.email is not None and await emails.request_email_change(
        tx, throttle, auth.settings, user, change.email, address=address
    ):
        response.status_code = status.HTTP_202_ACCEPTED
    return with_etag(response, user)


@router.delete(USER, status_code=status.HTTP_204_NO_CONTENT, responses=ACCOUNT_DELETED)
async def delete_user(user_id: AccountToDeleteId, tx: TransactionDep, if_match: IfMatchHeader = None) -> None:
    """Delete a user and all of their posts; with If-Match, only if unchanged.

    The body gives `current_password`, the password of whoever is signed in.
    """
    await service.USERS.delete(tx, user_id, if_match=if_match)


# --- sign-in off: the tutorial's open API ---


@open_router.post("", **SIGN_UP)
async def create_open_user(
    account: OpenSignUpDep, tx: TransactionDep, idempotency: IdempotencyDep
) -> Response:
    """Create a user. The email must not be registered yet (compared without regard to case)."""
    return await _create_user(account, tx, idempotency)


@open_router.get("", name="list_users", response_model=list[UserRead], responses=responses(401, 422, 503))
async def list_open_users(tx: ReadTransactionDep, page: PageDep, response: Response) -> list[UserRecord]:
    """List users in id order; a `Link` header points to the next page."""
    return page_of(await service.list_users(tx, page=page), page, response)


@open_router.get(USER, name="read_user", response_model=UserRead, responses=USER_READ)
async def read_open_user(user: UserToRead) -> UserRecord:
    """Fetch one user, with its ETag; 304 when If-None-Match names it."""
    return user


@open_router.patch(USER, name="update_user", response_model=UserRead, responses=USER_CHANGED)
async def update_open_user(
    user_id: int, payload: UserUpdate, tx: TransactionDep, response: Response, if_match: IfMatchHeader = None
) -> UserRecord:
    """Change the fields sent and leave the others as they are; with If-Match, only if unchanged."""
    changes = payload.model_dump(exclude_unset=True)
    user = await service.update_user(tx, user_id, changes=changes, if_match=if_match)
    return with_etag(response, user)


@open_router.delete(USER, name="delete_user", status_code=status.HTTP_204_NO_CONTENT, responses=USER_DELETED)
async def delete_open_user(user_id: int, tx: TransactionDep, if_match: IfMatchHeader = None) -> None:
    """Delete a user and all of their posts; with If-Match, only if unchanged."""
    await service.USERS.delete(tx, user_id, if_match=if_match)


async def _create_user(account: NewAccount, tx: Transaction, idempotency: IdempotentRequest) -> Response:
    if replay := await idempotency.replay_or_claim():
        return replay
    user = await service.create_user(tx, data=account.fields, password_hash=account.password_hash)
    return await idempotency.respond(UserRead.model_validate(user), status_code=201, etag=etag_of(user))
