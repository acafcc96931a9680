"""What the OpenAPI document says a route may answer besides its success: the error statuses, each
with its body model, description and headers."""

from typing import Any

from pydantic import BaseModel

from inkwell.conditional import ETAG_HEADER


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
    429: "Too many attempts (failed sign-ins, mails asked for, searches); retry after the seconds in "
    "Retry-After",
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


# What a change and a deletion of an owned, versioned record may answer besides success: a body that is
# not text (400), no or another's credentials (401, 403), no such record (404), another version than
# If-Match names (412), a body too large or not valid (413, 422), the database away (503).
CHANGE_ERRORS = (400, 401, 403, 404, 412, 413, 422, 503)
DELETE_ERRORS = (401, 403, 404, 412, 422, 503)


def answers(
    success: int, *codes: int, links: dict[str, Any] | None = None, hashes_passwords: bool = False
) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entries of a route that answers a record: `success`, with the record's ETag header
    (and the operations it `links` to), and the error statuses of `responses`."""
    entries = responses(*codes, hashes_passwords=hashes_passwords)
    entries[success] = {"headers": ETAG_HEADER} if links is None else {"headers": ETAG_HEADER, "links": links}
    return entries
