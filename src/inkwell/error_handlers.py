"""The handlers that render every error as JSON with a `detail`: Inkwell's own, HTTP and validation
errors, a database that is away (503) and anything unexpected (500, without a traceback for the client)."""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request, params, status
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.routing import Match

from inkwell.errors import InkwellError

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 1


# The OAuth2 token endpoint (RFC 6749, section 5.2): its errors also carry `error` and `error_description`,
# which OAuth2 clients read; Swagger UI's Authorize dialog shows them after its "Error: Unauthorized".
OAUTH2_TOKEN_PATH = "/auth/token"  # noqa: S105 (a path, not a password)
_OAUTH2_ERRORS = {
    status.HTTP_401_UNAUTHORIZED: "invalid_grant",  # an unknown email or a wrong password
    status.HTTP_429_TOO_MANY_REQUESTS: "invalid_grant",  # too many of them: refused for a while
    status.HTTP_503_SERVICE_UNAVAILABLE: "temporarily_unavailable",
}


def _oauth2_fields(request: Request, status_code: int, description: str) -> dict[str, str]:
    """`error` and `error_description` on the token endpoint's answers; nothing elsewhere."""
    if getattr(request.scope.get("route"), "path", None) != OAUTH2_TOKEN_PATH:
        return {}
    return {"error": _OAUTH2_ERRORS.get(status_code, "invalid_request"), "error_description": description}


async def handle_inkwell_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InkwellError)
    body = {"detail": exc.detail, **_oauth2_fields(request, exc.status_code, exc.detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        # Starlette names only the methods of the first route on the path; a path served by several
        # routes (GET and POST /users) allows the methods of all of them.
        exc = HTTPException(exc.status_code, exc.detail, headers={"Allow": _allowed_methods(request)})
    return await http_exception_handler(request, exc)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    # Asked of the router itself (routes can sit inside included routers): which methods fully match.
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    )


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if (hint := _media_type_hint(request)) is not None:
        # A form where JSON is taken, or JSON where a form is: the fields it lacks would not say why.
        errors: list[Any] = [{"type": "media_type", "loc": ["body"], "msg": hint}]
    else:
        errors = [_without_secret_input(error) for error in exc.errors()]
    summary = "; ".join(f"{_field_of(error)}: {error['msg']}" for error in errors)
    body = {"detail": jsonable_encoder(errors), **_oauth2_fields(request, 422, summary)}
    # ASCII-escaped, so that input echoed back with lone surrogates or NULs still renders.
    content = json.dumps(body, ensure_ascii=True)
    return Response(content, status_code=422, media_type="application/json")


FORM = "application/x-www-form-urlencoded"
_FORMS = frozenset({FORM, "multipart/form-data"})


def _media_type_hint(request: Request) -> str | None:
    """What to send instead, when the body is a form and the route takes JSON, or the other way round."""
    field = getattr(request.scope.get("route"), "body_field", None)
    if field is None:
        return None
    sent = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    sent_json = sent == "application/json" or sent.endswith("+json")
    required = [name for name, info in _model_fields(field.field_info.annotation) if info.is_required()]
    route = f"{request.method} {request.url.path}"
    if isinstance(field.field_info, params.Form) and sent_json:
        fields = "&".join(f"{name}=..." for name in required)
        return f"{route} takes a form (content-type: {FORM}), not JSON: send {fields}"
    if not isinstance(field.field_info, params.Form) and sent in _FORMS:
        fields = ", ".join(f'"{name}": ...' for name in required)
        return f"{route} takes JSON (content-type: application/json), not a form: send {{{fields}}}"
    return None


def _model_fields(annotation: Any) -> list[tuple[str, Any]]:
    return list(getattr(annotation, "model_fields", {}).items())


def _field_of(error: Any) -> str:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "header")]
    return ".".join(location) or "body"


# Fields whose value a 422 never echoes back: a response must not carry a password or a token (a
# password typed into the sign-in form's username box included).
SECRET_FIELDS = frozenset(
    {"password", "current_password", "new_password", "refresh_token", "token", "username"}
)


def _without_secret_input(error: Any) -> Any:
    location = error.get("loc", ())
    if SECRET_FIELDS.intersection(str(part) for part in location) or (
        location and location[0] == "body" and len(location) == 1
    ):
        # The whole body (a body that is not an object, say) may hold them too.
        return {key: value for key, value in error.items() if key != "input"}
    return error


async def handle_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The database is down, restarting or saturated: nothing the client did, and worth a retry.
    logger.warning("database unavailable: %s", type(exc).__name__)
    detail = "The database is unavailable; try again shortly"
    return JSONResponse(
        {"detail": detail, **_oauth2_fields(request, status.HTTP_503_SERVICE_UNAVAILABLE, detail)},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
    )


# SQLSTATE classes of a server that is going away or cannot take the connection: 08 connection
# exception, 53 insufficient resources (too many connections), 57 operator intervention (shutting down,
# starting up).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")


def database_unavailable(exc: sa_exc.DBAPIError) -> bool:
    """Whether a driver error says the database is unreachable rather than that a statement is wrong."""
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES


async def handle_database_error(request: Request, exc: Exception) -> Response:
    # asyncpg's "terminating connection due to administrator command" and the like arrive as plain
    # DBAPIError, not OperationalError: a restarting server is still a 503.
    assert isinstance(exc, sa_exc.DBAPIError)
    if database_unavailable(exc):
        return await handle_database_unavailable(request, exc)
    logger.error("database error", exc_info=exc)
    return await handle_unexpected(request, exc)


async def handle_unexpected(_request: Request, _exc: Exception) -> JSONResponse:
    # Starlette logs the traceback of an unhandled error itself; the client only gets JSON.
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InkwellError, handle_inkwell_error)
    app.add_exception_handler(HTTPException, handle_http_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    # OSError: a driver that cannot reach the server at all raises it unwrapped (refused, timed out).
    for unavailable in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, OSError):
        app.add_exception_handler(unavailable, handle_database_unavailable)
    app.add_exception_handler(sa_exc.DBAPIError, handle_database_error)
    app.add_exception_handler(Exception, handle_unexpected)
