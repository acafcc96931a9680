"""Pagination shared by every list route: limit/offset, and keyset (`after=`) with a `Link` to the next page.

Keyset pages cost the same at any depth (an index range scan from the cursor), where an offset makes the
database walk past every skipped row. Each list fetches one row more than it shows, to know whether a
next page exists, so no list ever counts its table.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy import ColumnElement, Integer, Select, bindparam
from sqlalchemy.orm import InstrumentedAttribute
from starlette.datastructures import URL

from inkwell.deps import SettingsDep
from inkwell.fields import MAX_ID

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    offset: int
    after: int | None
    url: URL
    max_offset: int


# async although it awaits nothing: FastAPI runs a plain `def` dependency in its thread pool, and the
# hop there and back cost a quarter of a list request's time.
async def page_params(
    request: Request,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = DEFAULT_LIMIT,
    offset: Annotated[
        int, Query(ge=0, description="Items to skip, up to INKWELL_MAX_OFFSET; deeper pages use `after`.")
    ] = 0,
    after: Annotated[
        int | None,
        Query(
            ge=0, le=MAX_ID, description="Start after the item with this id (the `Link` header's next page)."
        ),
    ] = None,
) -> Page:
    max_offset = settings.max_offset
    if offset > max_offset:
        raise RequestValidationError([_offset_too_deep(offset, max_offset)])
    return Page(limit=limit, offset=offset, after=after, url=request.url, max_offset=max_offset)


def _offset_too_deep(offset: int, max_offset: int) -> dict[str, Any]:
    # Shaped like pydantic's own error for a `le` bound, so that it renders as every other 422 does.
    return {
        "type": "less_than_equal",
        "loc": ("query", "offset"),
        "msg": f"Input should be less than or equal to {max_offset}; "
        "page deeper with `after=` (the `Link` header's next page), which costs the same at any depth",
        "input": offset,
        "ctx": {"le": max_offset},
    }


def document_max_offset(openapi: dict[str, Any], max_offset: int) -> None:
    """Put the app's `INKWELL_MAX_OFFSET` into its OpenAPI document, as the maximum of every `offset`."""
    for path in openapi.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "query" and parameter["name"] == "offset":
                    parameter["schema"]["maximum"] = max_offset


PageDep = Annotated[Page, Depends(page_params)]

# The OpenAPI entry for the header of a list's 200 response.
LINK_HEADER = {
    "Link": {
        "description": 'The next page, when there is one: `<relative URL>; rel="next"`.',
        "schema": {"type": "string"},
    }
}

SelectT = TypeVar("SelectT", bound=Select[Any])

_OFFSET = bindparam("page_offset", type_=Integer)
_SIZE = bindparam("page_size", type_=Integer)
_AFTER = bindparam("page_after", type_=Integer)


@dataclass(frozen=True, slots=True)
class PagedQuery(Generic[SelectT]):
    """A list's statement, built once: ordered by its key and one row longer than the page, from the
    start (`offset=`) or from a cursor (`after=`). Building it for every request cost more CPU than
    running it; `for_page` gives the statement and the page's parameters."""

    unpaged: SelectT
    from_start: SelectT
    from_cursor: SelectT

    def for_page(self, page: Page) -> tuple[SelectT, dict[str, int]]:
        parameters = {"page_offset": page.offset, "page_size": page.limit + 1}
        if page.after is None:
            return self.from_start, parameters
        parameters["page_after"] = page.after
        return self.from_cursor, parameters


def paged_query(
    query: SelectT, key: InstrumentedAttribute[int] | ColumnElement[int], *, descending: bool = False
) -> PagedQuery[SelectT]:
    """`query` paged by `key`, ascending or descending; `query`'s own parameters stay the caller's."""
    order = key.desc() if descending else key.asc()
    cursor = key < _AFTER if descending else key > _AFTER
    return PagedQuery(
        unpaged=query,
        from_start=query.order_by(order).offset(_OFFSET).limit(_SIZE),
        from_cursor=query.where(cursor).order_by(order).offset(_OFFSET).limit(_SIZE),
    )


class HasId(Protocol):
    @property
    def id(self) -> int: ...


ItemT = TypeVar("ItemT", bound=HasId)


def page_of(rows: Sequence[ItemT], page: Page, response: Response) -> list[ItemT]:
    """The page's items; when more follow, a `Link: <...>; rel="next"` header to them."""
    items = list(rows[: page.limit])
    if len(rows) > page.limit:
        response.headers["Link"] = next_page_link(page, items[-1].id)
    return items


def next_page_link(page: Page, last_id: int) -> str:
    """The `Link` header to the page after the item `last_id`.

    A relative reference (path and query), which clients resolve against the URL they asked for. The
    request's scheme and host are whatever the client (or a proxy) sent, `Host: evil.example` included:
    echoed back, they would point the next page at another site.
    """
    return _next_link(page, dropped="offset", after=last_id)


def next_offset_link(page: Page) -> str | None:
    """The `Link` header to the page after this one by `offset`, for lists that cannot page by keyset
    (search results, ordered by relevance); None when it would be deeper than INKWELL_MAX_OFFSET."""
    offset = page.offset + page.limit
    if offset > page.max_offset:
        return None
    return _next_link(page, offset=offset)


def _next_link(page: Page, *, dropped: str = "", **changed: int) -> str:
    # The request's query with `dropped` left out and `changed` set (last), as starlette's
    # `remove_query_params` and `include_query_params` would give it; each of those parses and encodes the
    # whole URL again, where this parses and encodes the query once.
    kept = [
        (name, value)
        for name, value in parse_qsl(page.url.query, keep_blank_values=True)
        if name != dropped and name not in changed
    ]
    query = urlencode(kept + [(name, str(value)) for name, value in changed.items()])
    return f'<{page.url.path}?{query}>; rel="next"'
