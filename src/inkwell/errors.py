"""The errors a client can act on: each names its status code and its message.

Raised anywhere below the routes (services, dependencies); error_handlers.py renders them as JSON.
"""

from fastapi import status


class InkwellError(Exception):
    """A failure the client can act on; subclasses set the status code and the message."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    detail: str = "Bad request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        if detail is not None:
            self.detail = detail
        if headers is not None:
            self.headers = headers
        super().__init__(self.detail)


class NotAuthenticated(InkwellError):
    status_code = status.HTTP_401_UNAUTHORIZED
    detail = "Not authenticated"
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012 (never mutated)


class Forbidden(InkwellError):
    status_code = status.HTTP_403_FORBIDDEN
    detail = "Not allowed"


class NotFound(InkwellError):
    status_code = status.HTTP_404_NOT_FOUND
    detail = "Not found"


class Conflict(InkwellError):
    status_code = status.HTTP_409_CONFLICT
    detail = "Conflict"


class PreconditionFailed(InkwellError):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    detail = "The resource has changed since that ETag: fetch it again"


class Unprocessable(InkwellError):
    status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
    detail = "Unprocessable request"
