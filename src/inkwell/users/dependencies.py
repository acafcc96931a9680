from typing import Annotated

from fastapi import Depends

from inkwell.db import SessionDep
from inkwell.users import service
from inkwell.users.errors import UserNotFound
from inkwell.users.models import User


async def user_or_404(user_id: int, session: SessionDep) -> User:
    user = await service.get_user(session, user_id)
    if user is None:
        raise UserNotFound
    return user


UserDep = Annotated[User, Depends(user_or_404)]
