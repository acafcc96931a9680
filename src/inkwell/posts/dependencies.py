from typing import Annotated, Any

from fastapi import Depends, Query, Response
from fastapi.exceptions import RequestValidationError

from inkwell.auth.dependencies import ViewerDep
from inkwell.auth.errors import NotYourPost
from inkwell.conditional import IfMatchHeader, IfNoneMatchHeader, answer_if_none_match, require_if_match
from inkwell.db import SessionDep
from inkwell.fields import MAX_ID, Documented
from inkwell.pagination import PageDep
from inkwell.posts import service
from inkwell.posts.errors import PostNotFound
from inkwell.posts.models import Post
from inkwell.posts.search import MAX_QUERY_LENGTH, SearchQuery, parse_query


async def post_or_404(post_id: int, session: SessionDep) -> Post:
    post = await service.get_post(session, post_id)
    if post is None:
        raise PostNotFound
    return post


PostDep = Annotated[Post, Depends(post_or_404)]


async def post_to_read(post: PostDep, response: Response, if_none_match: IfNoneMatchHeader = None) -> Post:
    """The post with its ETag, or 304 when the client's copy (If-None-Match) is current."""
    return answer_if_none_match(if_none_match, post, response)


async def post_to_change(
    post_id: int, viewer: ViewerDep, session: SessionDep, if_match: IfMatchHeader = None
) -> Post:
    """The post, locked until the request's transaction ends, if the viewer may change it (its author,
    or an admin) and If-Match (when sent) names its ETag."""
    post = await service.get_post(session, post_id, lock=True)
    if post is None:
        raise PostNotFound
    if not viewer.may_manage(post.author_id):
        raise NotYourPost
    require_if_match(if_match, post)
    return post


PostToRead = Annotated[Post, Depends(post_to_read)]
PostToChange = Annotated[Post, Depends(post_to_change)]


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


async def search_query(page: PageDep, q: SearchText = None) -> SearchQuery | None:
    """The parsed `q`, or None when there is none; a 422 when it is blank or holds a NUL, or comes with
    `after` (ranked results have no cursor)."""
    if q is None:
        return None
    if "\x00" in q:
        raise RequestValidationError([_invalid("q", "the search may not contain a NUL character", q)])
    if not q.strip():
        raise RequestValidationError([_invalid("q", "the search is blank", q)])
    if page.after is not None:
        message = "cannot be combined with `q`: search results are ranked, page them with `offset`"
        raise RequestValidationError([_invalid("after", message, page.after)])
    return parse_query(q)


def _invalid(parameter: str, message: str, value: object) -> dict[str, Any]:
    # Shaped like pydantic's own errors, so that it renders as every other 422 does.
    return {
        "type": "value_error",
        "loc": ("query", parameter),
        "msg": f"Value error, {message}",
        "input": value,
        "ctx": {"error": message},
    }


SearchDep = Annotated[SearchQuery | None, Depends(search_query)]
