from typing import Any

from fastapi import APIRouter, Response, status
from starlette.convertors import Convertor, register_url_convertor

from inkwell.auth.dependencies import SignedIn
from inkwell.conditional import ETAG_HEADER, IfMatchHeader, etag_of, matching_versions, with_etag
from inkwell.db import SessionDep
from inkwell.errors import responses
from inkwell.idempotency.dependencies import IdempotencyDep, IdempotentRequest
from inkwell.links import user_links
from inkwell.pagination import PageDep, page_of
from inkwell.users import service
from inkwell.users.dependencies import (
    ManagedUserId,
    NewAccount,
    OpenSignUpDep,
    SignUpDep,
    UserToChange,
    UserToRead,
)
from inkwell.users.models import User
from inkwell.users.schemas import UserRead, UserUpdate


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

router = APIRouter(prefix="/users", tags=["users"])
# POST /users, in one of two forms: with the password required (sign-in on) or optional (sign-in off).
sign_up_router = APIRouter(prefix="/users", tags=["users"])
open_sign_up_router = APIRouter(prefix="/users", tags=["users"])

SIGN_UP: dict[str, Any] = {
    "name": "create_user",
    "response_model": UserRead,
    "status_code": status.HTTP_201_CREATED,
    "responses": {
        **responses(400, 409, 413, 422, 429, 503),
        201: {"links": user_links(), "headers": ETAG_HEADER},
    },
}


@sign_up_router.post("", **SIGN_UP)
async def create_user(account: SignUpDep, session: SessionDep, idempotency: IdempotencyDep) -> Response:
    """Create a user (sign up). The email must not be registered yet (compared without regard to case)."""
    return await _create_user(account, session, idempotency)


@open_sign_up_router.post("", **SIGN_UP)
async def create_open_user(
    account: OpenSignUpDep, session: SessionDep, idempotency: IdempotencyDep
) -> Response:
    """Create a user. The email must not be registered yet (compared without regard to case)."""
    return await _create_user(account, session, idempotency)


async def _create_user(account: NewAccount, session: SessionDep, idempotency: IdempotentRequest) -> Response:
    if replay := await idempotency.replay_or_claim():
        return replay
    user = await service.create_user(session, data=account.fields, password_hash=account.password_hash)
    return idempotency.respond(UserRead.model_validate(user), status_code=201, etag=etag_of(user))


@router.get("", response_model=list[UserRead], responses=responses(401, 422, 503), dependencies=[SignedIn])
async def list_users(session: SessionDep, page: PageDep, response: Response) -> list[User]:
    """List users in id order; a `Link` header points to the next page."""
    return page_of(await service.list_users(session, page=page), page, response)


@router.get(
    USER,
    response_model=UserRead,
    responses={**responses(304, 401, 404, 422, 503), 200: {"links": user_links(), "headers": ETAG_HEADER}},
    dependencies=[SignedIn],
)
async def read_user(user: UserToRead) -> User:
    """Fetch one user, with its ETag; 304 when If-None-Match names it."""
    return user


@router.patch(
    USER,
    response_model=UserRead,
    responses={
        **responses(400, 401, 403, 404, 409, 412, 413, 422, 503),
        200: {"links": user_links(), "headers": ETAG_HEADER},
    },
)
async def update_user(
    user_id: ManagedUserId,
    payload: UserUpdate,
    session: SessionDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> User:
    """Change the fields sent and leave the others as they are; with If-Match, only if unchanged."""
    changes = payload.model_dump(exclude_unset=True)
    versions = matching_versions(if_match, user_id)
    return with_etag(
        response, await service.update_user(session, user_id, changes=changes, versions=versions)
    )


@router.delete(
    USER,
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401, 403, 404, 412, 422, 503),
)
async def delete_user(user: UserToChange, session: SessionDep) -> None:
    """Delete a user and all of their posts; with If-Match, only if unchanged."""
    await service.delete_user(session, user)
