from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from inkwell.auth import service, signin
from inkwell.auth.dependencies import AccountDep, AuthDep, SessionmakerDep, ThrottleDep, ViewerDep
from inkwell.auth.errors import WrongPassword
from inkwell.auth.schemas import AccountRead, PasswordChange, RefreshRequest, TokenPair
from inkwell.db import SessionDep
from inkwell.errors import responses
from inkwell.orm import utcnow
from inkwell.users.models import User

router = APIRouter(tags=["auth"])

UNKNOWN_ADDRESS = "unknown"


@router.post("/auth/token", response_model=TokenPair, responses=responses(400, 401, 413, 422, 429, 503))
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    auth: AuthDep,
    sessionmaker: SessionmakerDep,
    throttle: ThrottleDep,
) -> TokenPair:
    """Sign in (the OAuth2 password flow): `username` is the email. Answers an access and a refresh token.

    After repeated failures for an account or from an address, answers 429 until the window passes.
    """
    address = request.client.host if request.client else UNKNOWN_ADDRESS
    return await signin.sign_in(
        auth, sessionmaker, throttle, email=form.username, password=form.password, address=address
    )


@router.post("/auth/refresh", response_model=TokenPair, responses=responses(400, 401, 413, 422, 503))
async def refresh_tokens(payload: RefreshRequest, auth: AuthDep, sessionmaker: SessionmakerDep) -> TokenPair:
    """Trade a refresh token for a new pair. Each works once: a reused one ends its whole session."""
    return await signin.refresh(auth, sessionmaker, payload.refresh_token)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 503))
async def sign_out(viewer: ViewerDep, session: SessionDep) -> None:
    """End this session: its access token and its refresh token stop working at once."""
    assert viewer.session_id is not None
    await service.end_session(session, viewer.session_id, now=utcnow())


@router.get("/users/me", response_model=AccountRead, tags=["users"], responses=responses(401, 503))
async def read_account(account: AccountDep) -> User:
    """The signed-in user's own account."""
    return account


@router.put(
    "/users/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["users"],
    responses=responses(400, 401, 403, 413, 422, 503),
)
async def change_password(
    payload: PasswordChange, viewer: ViewerDep, account: AccountDep, auth: AuthDep, session: SessionDep
) -> None:
    """Change the password (the current one is required); every other session of the account ends."""
    verdict = await auth.passwords.verify(payload.current_password, account.password_hash)
    if not verdict.valid:
        raise WrongPassword
    new_hash = await auth.passwords.hash(payload.new_password)
    await service.set_password_hash(session, account.id, new_hash)
    await service.end_other_sessions(session, account.id, keep=viewer.session_id, now=utcnow())
