"""Conditional requests (RFC 9110): an ETag per record, If-None-Match -> 304, If-Match -> 412.

A record's ETag is built from its id and its version column, which every write increments.
Headers are parsed by Werkzeug, leniently: an unquoted tag counts as that tag, and a header that names no
tag at all matches nothing, so If-Match answers 412 (nothing changes) and If-None-Match a full 200.
"""

from dataclasses import dataclass
from typing import Annotated, Protocol, TypeVar

from fastapi import Header, Response
from pydantic import PlainValidator
from starlette.exceptions import HTTPException
from werkzeug.http import parse_etags, quote_etag

from inkwell.fields import not_null, valid_id


@dataclass(frozen=True, slots=True)
class IfMatch:
    """An If-Match header, parsed: the records and versions its strong tags name. A write checks it for
    the record it changes (`versions_of`); a header that names none of that record's versions matches
    nothing, and the write answers 412."""

    tags: frozenset[tuple[int, int]]

    def versions_of(self, record_id: int) -> frozenset[int]:
        return frozenset(version for tagged, version in self.tags if tagged == record_id)


def parse_if_match(header: object) -> IfMatch | None:
    """The tags of an If-Match header; None when there is none, or `*` (any version will do)."""
    if header is None:
        return None
    tags = parse_etags(str(header))
    if tags.star_tag:
        return None
    named = set()
    for tag in tags.as_set(include_weak=False):
        record, _, version = tag.partition("-")
        if record.isdecimal() and version.isdecimal() and valid_id(int(record)) and valid_id(int(version)):
            named.add((int(record), int(version)))
    return IfMatch(frozenset(named))


IfMatchHeader = Annotated[
    IfMatch | None,
    PlainValidator(parse_if_match, json_schema_input_type=str | None),
    Header(
        alias="If-Match",
        json_schema_extra=not_null,
        description="Change only if the current ETag is one of these (or `*`); otherwise 412 and nothing "
        "changes.",
    ),
]
IfNoneMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        json_schema_extra=not_null,
        description="Answer 304 with no body when the current ETag is one of these (or `*`).",
    ),
]
# The response header, as documented in OpenAPI.
ETAG_HEADER = {"ETag": {"description": "The record's current version", "schema": {"type": "string"}}}


class Versioned(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def version(self) -> int: ...


VersionedT = TypeVar("VersionedT", bound=Versioned)


def etag_of(record: Versioned) -> str:
    """The record's strong ETag: the same bytes for the same version, so strong comparison holds."""
    return quote_etag(f"{record.id}-{record.version}")


def with_etag(response: Response, record: VersionedT) -> VersionedT:
    """Send the record's ETag with the response, and hand the record back."""
    response.headers["ETag"] = etag_of(record)
    return record


def answer_if_none_match(if_none_match: str | None, record: VersionedT, response: Response) -> VersionedT:
    """The record with its ETag; a 304 with no body instead when If-None-Match names it (weakly)."""
    etag = etag_of(record)
    if if_none_match is not None and parse_etags(if_none_match).contains_weak(_opaque(record)):
        # Starlette renders a 304 HTTPException as an empty response with these headers.
        raise HTTPException(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return record


def _opaque(record: Versioned) -> str:
    return f"{record.id}-{record.version}"
