from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from inkwell.auth.dependencies import (
    AddressDep,
    Auth,
    AuthDep,
    ThrottleDep,
    Viewer,
    ViewerBeforeTransactionDep,
    ViewerDep,
)
from inkwell.auth.errors import HashingBusy, NotYourAccount, TooManySignUps
from inkwell.auth.passwords import Passwords
from inkwell.auth.schemas import AccountUpdate, CurrentPassword
from inkwell.auth.signin import check_password
from inkwell.auth.throttle import Throttle, sign_up_limit
from inkwell.conditional import IfMatchHeader, IfNoneMatchHeader, answer_if_none_match, require_if_match
from inkwell.db import SessionDep
from inkwell.users import service
from inkwell.users.errors import UserNotFound
from inkwell.users.models import User
from inkwell.users.schemas import OpenUserCreate, UserCreate, UserFields


async def user_or_404(user_id: int, session: SessionDep) -> User:
    user = await service.get_user(session, user_id)
    if user is None:
        raise UserNotFound
    return user


UserDep = Annotated[User, Depends(user_or_404)]


async def user_to_read(user: UserDep, response: Response, if_none_match: IfNoneMatchHeader = None) -> User:
    """The user with its ETag, or 304 when the client's copy (If-None-Match) is current."""
    return answer_if_none_match(if_none_match, user, response)


def managed_user_id(user_id: int, viewer: ViewerDep) -> int:
    """The user id of the path, if the viewer may change that account: their own, or any for an admin.

    Checked before the account is looked up, so a user learns nothing of accounts that are not theirs.
    """
    if not viewer.may_manage(user_id):
        raise NotYourAccount
    return user_id


def managed_account_id(user_id: int, viewer: ViewerBeforeTransactionDep) -> int:
    """`managed_user_id`, for the routes that ask for a password before their transaction begins."""
    return managed_user_id(user_id, viewer)


ManagedUserId = Annotated[int, Depends(managed_user_id)]
ManagedAccountId = Annotated[int, Depends(managed_account_id)]


async def _reauthenticate(
    auth: Auth, throttle: Throttle, viewer: Viewer, password: str, *, address: str
) -> None:
    assert viewer.user is not None, "only signed-in users are asked for their password"
    await check_password(auth, throttle, viewer.user, password, address=address)


@dataclass(frozen=True)
class AccountChange:
    """A PATCH with sign-in on, its password (if it needed one) confirmed: the fields to change at once,
    and a new email, which changes only once the token mailed to it comes back."""

    user_id: int
    changes: dict[str, Any]
    email: str | None


# The password is verified before the request's transaction begins (these come before SessionDep),
# as at sign-in: no connection or lock is held while Argon2 runs.
async def account_change(
    user_id: ManagedAccountId,
    payload: AccountUpdate,
    viewer: ViewerBeforeTransactionDep,
    auth: AuthDep,
    throttle: ThrottleDep,
    address: AddressDep,
) -> AccountChange:
    """The change asked for. A new email needs the current password of whoever is signed in: a stolen
    access token alone must not be able to move the account (and its password resets) elsewhere."""
    changes = payload.model_dump(exclude_unset=True, exclude={"email", "current_password"})
    email = payload.email if "email" in payload.model_fields_set else None
    if email is not None:
        await _reauthenticate(auth, throttle, viewer, payload.current_password, address=address)
    return AccountChange(user_id, changes, email)


async def account_to_delete_id(
    user_id: ManagedAccountId,
    payload: CurrentPassword,
    viewer: ViewerBeforeTransactionDep,
    auth: AuthDep,
    throttle: ThrottleDep,
    address: AddressDep,
) -> int:
    """The account to delete, once the password of whoever is signed in is confirmed."""
    await _reauthenticate(auth, throttle, viewer, payload.current_password, address=address)
    return user_id


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


async def account_to_delete(
    user_id: Annotated[int, Depends(account_to_delete_id)],
    session: SessionDep,
    if_match: IfMatchHeader = None,
) -> User:
    """`user_to_change`, once the password is confirmed."""
    return await user_to_change(user_id, session, if_match)


UserToRead = Annotated[User, Depends(user_to_read)]
UserToChange = Annotated[User, Depends(user_to_change)]
AccountChangeDep = Annotated[AccountChange, Depends(account_change)]
AccountToDelete = Annotated[User, Depends(account_to_delete)]


@dataclass(frozen=True)
class NewAccount:
    fields: UserFields
    password_hash: str | None


async def _hashed(fields: UserFields, password: str | None, request: Request) -> NewAccount:
    passwords: Passwords = request.app.state.passwords
    return NewAccount(fields, None if password is None else await passwords.hash(password))


# The password is hashed before the request's transaction begins (these come before SessionDep): the
# hashing takes tens of milliseconds, during which no connection or lock is held.
async def sign_up(
    payload: UserCreate, request: Request, auth: AuthDep, throttle: ThrottleDep, address: AddressDep
) -> NewAccount:
    """The new account, its password hashed; a client address gets a limited number of sign-ups (each
    costs a hashing), counted before the hashing."""
    limit = sign_up_limit(auth.settings, address)
    if (wait := await throttle.hit([limit])) is not None:
        raise TooManySignUps(wait)
    try:
        return await _hashed(payload, payload.password, request)
    except HashingBusy:
        await throttle.refund(limit.key)  # refused with a 503: it does not count
        raise


async def open_sign_up(payload: OpenUserCreate, request: Request) -> NewAccount:
    return await _hashed(payload, payload.password, request)


SignUpDep = Annotated[NewAccount, Depends(sign_up)]
OpenSignUpDep = Annotated[NewAccount, Depends(open_sign_up)]
