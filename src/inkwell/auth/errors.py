from fastapi import status

from inkwell.errors import Forbidden, InkwellError, NotAuthenticated

HASHING_RETRY_AFTER_SECONDS = 1


class InvalidCredentials(NotAuthenticated):
    # The same answer for an unknown email and a wrong password.
    detail = "Incorrect email or password"


class InvalidAccessToken(NotAuthenticated):
    detail = "Could not validate credentials"
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}  # noqa: RUF012 (never mutated)


class InvalidRefreshToken(NotAuthenticated):
    detail = "Invalid or expired refresh token"


class InvalidAccountToken(InkwellError):
    # The same answer for an unknown, used, expired or wrong-purpose token, and for one sent to an
    # address the account no longer has. 400, not 401: these routes take no credentials.
    status_code = status.HTTP_400_BAD_REQUEST
    detail = "Invalid or expired token"


class HashingBusy(InkwellError):
    # Every hashing thread is taken and the queue for them full (or a turn did not come in time): the
    # request is refused at once rather than kept waiting, and nothing was written.
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    detail = "The server is busy hashing passwords; retry shortly"
    headers = {"Retry-After": str(HASHING_RETRY_AFTER_SECONDS)}  # noqa: RUF012 (never mutated)


class WrongPassword(Forbidden):
    detail = "The current password is incorrect"


class NotYourAccount(Forbidden):
    detail = "Only the account's owner or an admin may do this"


class TooManyFailures(InkwellError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    detail = "Too many failed sign-ins; try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__(headers={"Retry-After": str(retry_after)})


class TooManyMailRequests(TooManyFailures):
    detail = "Too many mails asked for; try again later"


class TooManySignUps(TooManyFailures):
    detail = "Too many sign-ups from this address; try again later"
