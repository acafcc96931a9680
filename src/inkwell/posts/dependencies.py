from typing import Annotated, Any

from fastapi import Depends, Query, Response
from fastapi.exceptions import RequestValidationError

from inkwell.auth.dependencies import AddressDep
from inkwell.auth.throttle import search_limit
from inkwell.conditional import IfNoneMatchHeader, answer_if_none_match
from inkwell.deps import ReadTransactionDep, SettingsDep, TrafficThrottleDep
from inkwell.fields import MAX_ID, Documented
from inkwell.pagination import PageDep
from inkwell.posts import service
from inkwell.posts.errors import PostNotFound, TooManySearches
from inkwell.posts.models import PostRecord
from inkwell.posts.search import MAX_QUERY_LENGTH, Search, parse_query


async def post_to_read(
    post_id: int, tx: ReadTransactionDep, response: Response, if_none_match: IfNoneMatchHeader = None
) -> PostRecord:
    """The post with its ETag; 404 when there is none, 304 when the client's copy (If-None-Match) is
    current."""
    post = await service.POSTS.get(tx, post_id)
    if post is None:
        raise PostNotFound
    return answer_if_none_match(if_none_match, post, response)


PostToRead = Annotated[PostRecord, Depends(post_to_read)]


# Some character that is not white space, and no NUL: the rules `search_query` checks, documented (as a
# constraint, pydantic would answer its own message about a pattern).
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"

AuthorFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this author's posts.")]
SearchText = Annotated[
    Annotated[str, Documented("pattern", NOT_BLANK)] | None,
    Query(
        min_length=1,
        max_length=MAX_QUERY_LENGTH,
        description='Only posts whose title or body matches, best first: all the words, `"a phrase"`, '
        "`-excluded`, `this OR that` (see docs/search.md). Not blank, no NUL; pages by `offset`, not "
        "`after`.",
    ),
]


async def search_query(
    page: PageDep,
    settings: SettingsDep,
    throttle: TrafficThrottleDep,
    address: AddressDep,
    q: SearchText = None,
) -> Search | None:
    """The parsed `q`, or None when there is none; a 422 when it is blank or holds a NUL, or comes with
    `after` (ranked results have no cursor); a 429 past the searches allowed from the client's address."""
    if q is None:
        return None
    if "\x00" in q:
        raise RequestValidationError([_invalid("q", "the search may not contain a NUL character", q)])
    if not q.strip():
        raise RequestValidationError([_invalid("q", "the search is blank", q)])
    if page.after is not None:
        message = "cannot be combined with `q`: search results are ranked, page them with `offset`"
        raise RequestValidationError([_invalid("after", message, page.after)])
    if (wait := await throttle.hit([search_limit(settings, address)])) is not None:
        raise TooManySearches(wait)
    return Search(parse_query(q), window=settings.search_rank_window, scan_rows=settings.search_scan_rows)


def _invalid(parameter: str, message: str, value: object) -> dict[str, Any]:
    # Shaped like pydantic's own errors, so that it renders as every other 422 does.
    return {
        "type": "value_error",
        "loc": ("query", parameter),
        "msg": message,
        "input": value,
        "ctx": {"error": message},
    }


SearchDep = Annotated[Search | None, Depends(search_query)]
