from typing import Annotated

from fastapi import Depends, Response

from inkwell.conditional import IfMatchHeader, IfNoneMatchHeader, answer_if_none_match, require_if_match
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


async def user_to_read(user: UserDep, response: Response, if_none_match: IfNoneMatchHeader = None) -> User:
    """The user with its ETag, or 304 when the client's copy (If-None-Match) is current."""
    return answer_if_none_match(if_none_match, user, response)


async def user_to_change(user_id: int, session: SessionDep, if_match: IfMatchHeader = None) -> User:
    """The user, locked until the request's transaction ends, if If-Match (when sent) names its ETag.

    The lock makes the check and the write one step: a concurrent change waits for this one, then
    finds the version moved.
    """
    user = await service.get_user(session, user_id, lock=True)
    if user is None:
        raise UserNotFound
    require_if_match(if_match, user)
    return user


UserToRead = Annotated[User, Depends(user_to_read)]
UserToChange = Annotated[User, Depends(user_to_change)]
