from fastapi import APIRouter, Response, status

from inkwell.conditional import ETAG_HEADER, IfMatchHeader, etag_of, matching_versions, with_etag
from inkwell.db import SessionDep
from inkwell.errors import responses
from inkwell.idempotency.dependencies import IdempotencyDep
from inkwell.links import user_links
from inkwell.pagination import PageDep, page_of
from inkwell.users import service
from inkwell.users.dependencies import UserToChange, UserToRead
from inkwell.users.models import User
from inkwell.users.schemas import UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses={**responses(400, 409, 413, 422, 503), 201: {"links": user_links(), "headers": ETAG_HEADER}},
)
async def create_user(payload: UserCreate, session: SessionDep, idempotency: IdempotencyDep) -> Response:
    """Create a user. The email must not be registered yet (compared without regard to case)."""
    if replay := await idempotency.replay_or_claim():
        return replay
    user = await service.create_user(session, data=payload)
    return idempotency.respond(UserRead.model_validate(user), status_code=201, etag=etag_of(user))


@router.get("", response_model=list[UserRead], responses=responses(422, 503))
async def list_users(session: SessionDep, page: PageDep, response: Response) -> list[User]:
    """List users in id order; a `Link` header points to the next page."""
    return page_of(await service.list_users(session, page=page), page, response)


@router.get(
    "/{user_id}",
    response_model=UserRead,
    responses={**responses(304, 404, 422, 503), 200: {"links": user_links(), "headers": ETAG_HEADER}},
)
async def read_user(user: UserToRead) -> User:
    """Fetch one user, with its ETag; 304 when If-None-Match names it."""
    return user


@router.patch(
    "/{user_id}",
    response_model=UserRead,
    responses={
        **responses(400, 404, 409, 412, 413, 422, 503),
        200: {"links": user_links(), "headers": ETAG_HEADER},
    },
)
async def update_user(
    user_id: int, payload: UserUpdate, session: SessionDep, response: Response, if_match: IfMatchHeader = None
) -> User:
    """Change the fields sent and leave the others as they are; with If-Match, only if unchanged."""
    changes = payload.model_dump(exclude_unset=True)
    versions = matching_versions(if_match, user_id)
    return with_etag(
        response, await service.update_user(session, user_id, changes=changes, versions=versions)
    )


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404, 412, 422, 503))
async def delete_user(user: UserToChange, session: SessionDep) -> None:
    """Delete a user and all of their posts; with If-Match, only if unchanged."""
    await service.delete_user(session, user)
