from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Response

from inkwell.auth.dependencies import (
    AddressDep,
    BearerTokenDep,
    Viewer,
    ViewerBeforeTransactionDep,
    ViewerDep,
    read_viewer_apart,
)
from inkwell.auth.errors import HashingBusy, NotYourAccount, TooManySignUps
from inkwell.auth.keys import Auth
from inkwell.auth.passwords import Passwords
from inkwell.auth.schemas import AccountUpdate, CurrentPassword
from inkwell.auth.signin import check_password
from inkwell.auth.throttle import Limit, Throttle, sign_up_limit
from inkwell.conditional import IfNoneMatchHeader, answer_if_none_match
from inkwell.deps import AuthDep, DatabaseDep, PasswordsDep, ReadTransactionDep, ThrottleDep
from inkwell.users import service
from inkwell.users.errors import UserNotFound
from inkwell.users.models import UserRecord
from inkwell.users.schemas import OpenUserCreate, UserCreate, UserFields


async def user_to_read(
    user_id: int, tx: ReadTransactionDep, response: Response, if_none_match: IfNoneMatchHeader = None
) -> UserRecord:
    """The user with its ETag; 404 when there is none, 304 when the client's copy (If-None-Match) is
    current."""
    user = await service.USERS.get(tx, user_id)
    if user is None:
        raise UserNotFound
    return answer_if_none_match(if_none_match, user, response)


async def managed_user_id(user_id: int, viewer: ViewerDep) -> int:
    """The user id of the path, if the viewer may change that account: their own, or any for an admin.

    Checked before the account is looked up, so a user learns nothing of accounts that are not theirs.
    """
    if not viewer.may_manage(user_id):
        raise NotYourAccount
    return user_id


async def managed_account_id(user_id: int, viewer: ViewerBeforeTransactionDep) -> int:
    """`managed_user_id`, for the routes that ask for a password before their transaction begins."""
    return await managed_user_id(user_id, viewer)


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

    changes: dict[str, Any]
    email: str | None


# The password is verified before the request's transaction begins (these come before TransactionDep),
# as at sign-in: no connection or lock is held while Argon2 runs.
async def account_change(
    user_id: int,
    payload: AccountUpdate,
    auth: AuthDep,
    database: DatabaseDep,
    token: BearerTokenDep,
    throttle: ThrottleDep,
    address: AddressDep,
) -> AccountChange:
    """The change asked for. A new email needs the current password of whoever is signed in: a stolen
    access token alone must not be able to move the account (and its password resets) elsewhere.

    Only then is the viewer read here, on a connection of its own; the route checks who may change the
    account in its transaction (`ManagedUserId`) in every case.
    """
    changes = payload.model_dump(exclude_unset=True, exclude={"email", "current_password"})
    email = payload.email if "email" in payload.model_fields_set else None
    if email is not None:
        viewer = await read_viewer_apart(auth, database, token)
        # Whose password is asked for is the viewer's own, but a user may not try it on other accounts.
        await managed_user_id(user_id, viewer)
        await _reauthenticate(auth, throttle, viewer, payload.current_password, address=address)
    return AccountChange(changes, email)


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


UserToRead = Annotated[UserRecord, Depends(user_to_read)]
AccountChangeDep = Annotated[AccountChange, Depends(account_change)]
AccountToDeleteId = Annotated[int, Depends(account_to_delete_id)]


@dataclass(frozen=True)
class NewAccount:
    fields: UserFields
    password_hash: str | None


async def _hashed(fields: UserFields, password: str | None, passwords: Passwords) -> NewAccount:
    return NewAccount(fields, None if password is None else await passwords.hash(password))


async def sign_up_counted(auth: AuthDep, throttle: ThrottleDep, address: AddressDep) -> Limit:
    """Count a sign-up against its client address, which gets a limited number of them (each costs a
    hashing): first, before its body is even validated, so that an address past its limit costs the
    server next to nothing (the throttle remembers it refused it)."""
    limit = sign_up_limit(auth.settings, address)
    if (wait := await throttle.hit([limit])) is not None:
        raise TooManySignUps(wait)
    return limit


# The password is hashed before the request's transaction begins (these come before TransactionDep): the
# hashing takes tens of milliseconds, during which no connection or lock is held.
async def sign_up(
    counted: Annotated[Limit, Depends(sign_up_counted)],
    payload: UserCreate,
    passwords: PasswordsDep,
    throttle: ThrottleDep,
) -> NewAccount:
    """The new account, its password hashed once the sign-up is counted."""
    try:
        return await _hashed(payload, payload.password, passwords)
    except HashingBusy:
        await throttle.refund(counted.key)  # refused with a 503: it does not count
        raise


async def open_sign_up(payload: OpenUserCreate, passwords: PasswordsDep) -> NewAccount:
    return await _hashed(payload, payload.password, passwords)


SignUpDep = Annotated[NewAccount, Depends(sign_up)]
OpenSignUpDep = Annotated[NewAccount, Depends(open_sign_up)]
