from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from inkwell.auth import emails, service, signin
from inkwell.auth.dependencies import (
    AccountDep,
    AddressDep,
    ViewerBeforeTransactionDep,
    ViewerDep,
)
from inkwell.auth.errors import InvalidAccountToken, TooManyMailRequests
from inkwell.auth.models import TokenPurpose
from inkwell.auth.schemas import (
    Accepted,
    AccountRead,
    EmailConfirmation,
    EmailVerification,
    ForgottenPassword,
    PasswordChange,
    PasswordReset,
    RefreshRequest,
    SignInForm,
    TokenPair,
)
from inkwell.deps import AuthDep, DatabaseDep, ThrottleDep, TransactionDep
from inkwell.orm import utcnow
from inkwell.responses import ErrorBody, responses
from inkwell.users import service as users

router = APIRouter(tags=["auth"])
# The signed-in user's own account: listed with the other users routes, once.
account_router = APIRouter(tags=["users"])

# A response that carries tokens is never stored by a cache (RFC 6749, section 5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

VERIFICATION_SENT = "A message with a verification token is on its way to your email address"
RESET_SENT = "If an account has this email address, a message with a reset token is on its way to it"
# The routes that take a mailed token say what a 400 means for them.
TOKEN_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "`Invalid or expired token`: unknown, used, expired, for another flow, sent to an "
        "address the account no longer has, or spent by a later change (or a body that is not UTF-8)",
    }
}


@router.post(
    "/auth/token",
    response_model=TokenPair,
    responses=responses(400, 401, 413, 422, 429, 503, hashes_passwords=True),
)
async def sign_in(
    form: Annotated[SignInForm, Depends()],
    address: AddressDep,
    auth: AuthDep,
    database: DatabaseDep,
    throttle: ThrottleDep,
    response: Response,
) -> TokenPair:
    """Sign in (the OAuth2 password flow): `username` is the email. Answers an access and a refresh token.

    After repeated failures for an account or from an address, answers 429 until the window passes.
    """
    pair = await signin.sign_in(
        auth, database, throttle, email=form.username, password=form.password, address=address
    )
    response.headers.update(NO_STORE)
    return pair


@router.post("/auth/refresh", response_model=TokenPair, responses=responses(400, 401, 413, 422, 503))
async def refresh_tokens(
    payload: RefreshRequest, auth: AuthDep, database: DatabaseDep, response: Response
) -> TokenPair:
    """Trade a refresh token for a new pair. Each works once: a reused one ends its whole session."""
    pair = await signin.refresh(auth, database, payload.refresh_token)
    response.headers.update(NO_STORE)
    return pair


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, responses=responses(401, 503))
async def sign_out(viewer: ViewerDep, tx: TransactionDep) -> None:
    """End this session: its access token and its refresh token stop working at once."""
    assert viewer.session_id is not None
    await service.end_session(tx, viewer.session_id, now=utcnow())


@account_router.get("/users/me", response_model=AccountRead, responses=responses(401, 503))
async def read_account(account: AccountDep, tx: TransactionDep, response: Response) -> AccountRead:
    """The signed-in user's own account, with the new email it asked for while that waits to be confirmed."""
    response.headers["Cache-Control"] = "no-store"  # personal: no cache on the way may keep it
    return AccountRead.of(account, pending_email=await service.pending_email(tx, account.id, now=utcnow()))


@account_router.put(
    "/users/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(400, 401, 403, 413, 422, 429, 503, hashes_passwords=True),
)
async def change_password(
    payload: PasswordChange,
    viewer: ViewerBeforeTransactionDep,
    auth: AuthDep,
    database: DatabaseDep,
    throttle: ThrottleDep,
    address: AddressDep,
) -> None:
    """Change the password (the current one is required, and throttled like a sign-in); every other
    session of the account ends."""
    await signin.change_password(
        auth,
        database,
        throttle,
        viewer,
        current=payload.current_password,
        new=payload.new_password,
        address=address,
    )


@router.post(
    "/auth/verify/request",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(401, 429, 503),
)
async def request_email_verification(
    account: AccountDep, auth: AuthDep, tx: TransactionDep, throttle: ThrottleDep, address: AddressDep
) -> Accepted:
    """Mail the signed-in user a token that verifies their email address (in the background).

    A few such mails per address an hour; more answer 429.
    """
    wait = await emails.count_mail_request(throttle, tx, auth.settings, email=account.email, address=address)
    if wait is not None:
        raise TooManyMailRequests(wait)
    await emails.request_verification(tx, account)
    return Accepted(detail=VERIFICATION_SENT)


@router.post(
    "/auth/verify",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**responses(413, 422, 503), **TOKEN_REFUSED},
)
async def verify_email(payload: EmailVerification, tx: TransactionDep) -> None:
    """Mark the account's email address verified with the token mailed to it (once)."""
    now = utcnow()
    redeemed = await service.redeem_account_token(
        tx, payload.token, purpose=TokenPurpose.VERIFY_EMAIL, now=now
    )
    if redeemed is None:
        raise InvalidAccountToken
    if not await users.mark_email_verified(tx, redeemed.user_id, email=redeemed.email, now=now):
        # The address changed in between: the request's transaction rolls back the use of the token.
        raise InvalidAccountToken


@router.post(
    "/auth/confirm-email",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**responses(409, 413, 422, 503), **TOKEN_REFUSED},
)
async def confirm_email(payload: EmailConfirmation, auth: AuthDep, tx: TransactionDep) -> None:
    """Make the new address asked for (with `PATCH /users/{user_id}`) the account's email, with the token
    mailed to it (once). The email is then verified, every session of the account ends, and the old
    address is told."""
    await emails.confirm_email_change(tx, auth.settings, payload.token, now=utcnow())


@router.post(
    "/auth/forgot-password",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(400, 413, 422, 429, 503),
)
async def forgot_password(
    payload: ForgottenPassword, auth: AuthDep, tx: TransactionDep, throttle: ThrottleDep, address: AddressDep
) -> Accepted:
    """Mail a password reset token to the account with this email, if any: the same answer either way.

    A few such mails per client address an hour; more answer 429. An address that was sent its share
    of mails gets no more for a while, but the answer is the same: what others asked for never keeps
    the owner from being answered.
    """
    await emails.request_password_reset(tx, throttle, auth.settings, payload.email, address=address)
    return Accepted(detail=RESET_SENT)


@router.post(
    "/auth/reset-password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**responses(413, 422, 503, hashes_passwords=True), **TOKEN_REFUSED},
)
async def reset_password(payload: PasswordReset, auth: AuthDep, database: DatabaseDep) -> None:
    """Set a new password with the token mailed for it (once); every session of the account ends."""
    await signin.reset_password(auth, database, token=payload.token, new_password=payload.new_password)
