"""What the OpenAPI document says a route may answer besides its success: the error statuses, each
with its body model, description and headers."""

from typing import Any

from pydantic import BaseModel


class ErrorBody(BaseModel):
    detail: str


class UnprocessableBody(BaseModel):
    """A 422: the validation errors found in the request, or one message."""

    detail: list[dict[str, Any]] | str


_DESCRIPTIONS = {
    400: "Bad request: the body could not be read (it is not UTF-8 text)",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    412: "Precondition failed: the resource has changed since the ETag sent in If-Match",
    413: "Request body too large",
    422: "The request is not valid",
    429: "Too many attempts (failed sign-ins, mails asked for); retry after the seconds in Retry-After",
    503: "Database unavailable; retry after the seconds in Retry-After",
}
# A route that hashes or checks a password is also refused while every hashing thread is taken.
_BUSY_HASHING = (
    "Database unavailable, or the server busy hashing passwords (every turn taken and the queue for them "
    "full); retry after the seconds in Retry-After"
)
_MODELS: dict[int, type[BaseModel]] = {422: UnprocessableBody}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    429: _RETRY_AFTER,
    503: _RETRY_AFTER,
}
NOT_MODIFIED = 304


def responses(*codes: int, hashes_passwords: bool = False) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer, each with a `detail` body.

    304 (for If-None-Match) has no body. A route that `hashes_passwords` says why else it may answer 503.
    """
    entries: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        if code == NOT_MODIFIED:
            entries[code] = {"description": "Not modified: the copy with the ETag sent is current"}
            continue
        entries[code] = {"model": _MODELS.get(code, ErrorBody), "description": _DESCRIPTIONS[code]}
        if code in _HEADERS:
            entries[code]["headers"] = _HEADERS[code]
    if hashes_passwords:
        entries[503]["description"] = _BUSY_HASHING
    return entries
