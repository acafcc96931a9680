from fastapi import APIRouter, Response, status

from inkwell.auth.dependencies import ViewerIdempotencyDep
from inkwell.cache.invalidation import POSTS, user_posts_key
from inkwell.cache.reads import CacheDep, ReadSessionsDep, cached_body
from inkwell.conditional import ETAG_HEADER, etag_of, with_etag
from inkwell.db import SessionDep
from inkwell.links import post_links
from inkwell.pagination import LINK_HEADER, PageDep
from inkwell.posts import service
from inkwell.posts.dependencies import AuthorFilter, PostToChange, PostToRead, SearchDep
from inkwell.posts.models import Post
from inkwell.posts.pages import cache_for, encode_page, page_response
from inkwell.posts.schemas import PostCreate, PostRead, PostUpdate
from inkwell.responses import responses
from inkwell.users.dependencies import ManagedUserId

router = APIRouter(tags=["posts"])


@router.post(
    "/users/{user_id}/posts",
    response_model=PostRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        **responses(400, 401, 403, 404, 409, 413, 422, 503),
        201: {"links": post_links(), "headers": ETAG_HEADER},
    },
)
async def create_post(
    user_id: ManagedUserId, payload: PostCreate, session: SessionDep, idempotency: ViewerIdempotencyDep
) -> Response:
    """Write a post as the given user."""
    if replay := await idempotency.replay_or_claim():
        return replay
    post = await service.create_post(session, author_id=user_id, data=payload)
    return idempotency.respond(PostRead.model_validate(post), status_code=201, etag=etag_of(post))


@router.get(
    "/users/{user_id}/posts",
    response_model=list[PostRead],
    responses={**responses(404, 422, 503), 200: {"headers": LINK_HEADER}},
)
async def list_user_posts(
    user_id: int, page: PageDep, search: SearchDep, cache: CacheDep, read_sessions: ReadSessionsDep
) -> Response:
    """List a user's posts, oldest first, or with `q` those that match, best first; a `Link` header points
    to the next page."""

    async def load() -> bytes:
        async with read_sessions() as session:
            found = await service.list_user_posts(session, author_id=user_id, page=page, search=search)
        return encode_page(found, page)

    variant = f"{page.limit}:{page.offset}:"
    body = await cached_body(cache_for(cache, page, search), user_posts_key(user_id), variant, load)
    return page_response(body, page, search)


@router.get(
    "/posts",
    response_model=list[PostRead],
    responses={**responses(422, 503), 200: {"headers": LINK_HEADER}},
)
async def list_posts(
    page: PageDep,
    search: SearchDep,
    cache: CacheDep,
    read_sessions: ReadSessionsDep,
    author_id: AuthorFilter = None,
) -> Response:
    """List posts, newest first, or with `q` those that match, best first; a `Link` header points to the
    next page."""

    async def load() -> bytes:
        async with read_sessions() as session:
            found = await service.list_posts(session, page=page, author_id=author_id, search=search)
        return encode_page(found, page)

    variant = f"{page.limit}:{page.offset}:{author_id or ''}"
    body = await cached_body(cache_for(cache, page, search), POSTS, variant, load)
    return page_response(body, page, search)


@router.get(
    "/posts/{post_id}",
    response_model=PostRead,
    responses={**responses(304, 404, 422, 503), 200: {"links": post_links(), "headers": ETAG_HEADER}},
)
async def read_post(post: PostToRead) -> Post:
    """Fetch one post, with its ETag; 304 when If-None-Match names it."""
    return post


@router.patch(
    "/posts/{post_id}",
    response_model=PostRead,
    responses={
        **responses(400, 401, 403, 404, 412, 413, 422, 503),
        200: {"links": post_links(), "headers": ETAG_HEADER},
    },
)
async def update_post(
    post: PostToChange, payload: PostUpdate, session: SessionDep, response: Response
) -> Post:
    """Change the fields sent and leave the others as they are; with If-Match, only if unchanged."""
    changes = payload.model_dump(exclude_unset=True)
    return with_etag(response, await service.update_post(session, post, changes=changes))


@router.delete(
    "/posts/{post_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(401, 403, 404, 412, 422, 503),
)
async def delete_post(post: PostToChange, session: SessionDep) -> None:
    """Delete a post; with If-Match, only if unchanged."""
    await service.delete_post(session, post)
