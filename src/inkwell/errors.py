"""Domain errors and the handlers that render every error as JSON with a `detail`."""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 1


class InkwellError(Exception):
    """A failure the client can act on; subclasses set the status code and the message."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    detail: str = "Bad request"

    def __init__(self, detail: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        super().__init__(self.detail)


class NotFound(InkwellError):
    status_code = status.HTTP_404_NOT_FOUND
    detail = "Not found"


class Conflict(InkwellError):
    status_code = status.HTTP_409_CONFLICT
    detail = "Conflict"


async def handle_inkwell_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InkwellError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


async def handle_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # ASCII-escaped, so that input echoed back with lone surrogates or NULs still renders.
    content = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True)
    return Response(content, status_code=422, media_type="application/json")


async def handle_database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # The database is down, restarting or saturated: nothing the client did, and worth a retry.
    logger.warning("database unavailable: %s", type(exc).__name__)
    return JSONResponse(
        {"detail": "The database is unavailable; try again shortly"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


async def handle_unexpected(_request: Request, _exc: Exception) -> JSONResponse:
    # Starlette logs the traceback of an unhandled error itself; the client only gets JSON.
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InkwellError, handle_inkwell_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    # OSError: a driver that cannot reach the server at all raises it unwrapped (refused, timed out).
    for unavailable in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, OSError):
        app.add_exception_handler(unavailable, handle_database_unavailable)
    app.add_exception_handler(Exception, handle_unexpected)


class ErrorBody(BaseModel):
    detail: str


_DESCRIPTIONS = {
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request body too large",
    503: "Database unavailable",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer, each with a `detail` body."""
    return {code: {"model": ErrorBody, "description": _DESCRIPTIONS[code]} for code in codes}
