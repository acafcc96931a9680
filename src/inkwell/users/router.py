from fastapi import APIRouter, Response, status

from inkwell.db import SessionDep
from inkwell.errors import responses
from inkwell.pagination import PageDep, page_of
from inkwell.users import service
from inkwell.users.dependencies import UserDep
from inkwell.users.models import User
from inkwell.users.schemas import UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", response_model=UserRead, status_code=status.HTTP_201_CREATED, responses=responses(409))
async def create_user(payload: UserCreate, session: SessionDep) -> User:
    """Create a user. The email must not be registered yet (compared without regard to case)."""
    return await service.create_user(session, data=payload)


@router.get("", response_model=list[UserRead])
async def list_users(session: SessionDep, page: PageDep, response: Response) -> list[User]:
    """List users in id order; a `Link` header points to the next page."""
    return page_of(await service.list_users(session, page=page), page, response)


@router.get("/{user_id}", response_model=UserRead, responses=responses(404))
async def read_user(user: UserDep) -> User:
    """Fetch one user."""
    return user


@router.patch("/{user_id}", response_model=UserRead, responses=responses(404, 409))
async def update_user(user_id: int, payload: UserUpdate, session: SessionDep) -> User:
    """Change the fields sent and leave the others as they are."""
    changes = payload.model_dump(exclude_unset=True)
    return await service.update_user(session, user_id, changes=changes)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404))
async def delete_user(user: UserDep, session: SessionDep) -> None:
    """Delete a user and all of their posts."""
    await service.delete_user(session, user)
