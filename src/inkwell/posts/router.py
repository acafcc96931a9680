from fastapi import APIRouter, Response, status

from inkwell.auth.dependencies import ViewerDep, ViewerIdempotencyDep
from inkwell.cache.reads import cached_body
from inkwell.conditional import IfMatchHeader, etag_of, with_etag
from inkwell.deps import CacheDep, ReadsDep, TransactionDep
from inkwell.links import post_links
from inkwell.pagination import LINK_HEADER, PageDep
from inkwell.posts import service
from inkwell.posts.dependencies import AuthorFilter, PostToRead, SearchDep
from inkwell.posts.models import PostRecord
from inkwell.posts.pages import CACHE_NAMESPACE, cache_for, encode_page, page_response, variant
from inkwell.posts.schemas import PostCreate, PostRead, PostUpdate
from inkwell.responses import CHANGE_ERRORS, DELETE_ERRORS, answers, responses
from inkwell.users.dependencies import ManagedUserId

router = APIRouter(tags=["posts"])


@router.post(
    "/users/{user_id}/posts",
    response_model=PostRead,
    status_code=status.HTTP_201_CREATED,
    responses=answers(201, 400, 401, 403, 404, 409, 413, 422, 503, links=post_links()),
)
async def create_post(
    user_id: ManagedUserId, payload: PostCreate, tx: TransactionDep, idempotency: ViewerIdempotencyDep
) -> Response:
    """Write a post as the given user."""
    if replay := await idempotency.replay_or_claim():
        return replay
    post = await service.create_post(tx, author_id=user_id, data=payload)
    return await idempotency.respond(PostRead.model_validate(post), status_code=201, etag=etag_of(post))


@router.get(
    "/users/{user_id}/posts",
    response_model=list[PostRead],
    responses={**responses(404, 422, 429, 503), 200: {"headers": LINK_HEADER}},
)
async def list_user_posts(
    user_id: int, page: PageDep, search: SearchDep, cache: CacheDep, reads: ReadsDep
) -> Response:
    """List a user's posts, oldest first, or with `q` those that match, best first; a `Link` header points
    to the next page."""
    cached = cache_for(cache, page)

    async def load() -> bytes:
        # A transaction only when the cache misses: a hit touches no database connection.
        async with reads.current() if cached else reads.may_be_old() as tx:
            found = await service.list_user_posts(tx, author_id=user_id, page=page, search=search)
        return encode_page(found, page)

    key = variant(f"user:{user_id}", page, search)
    body = await cached_body(cached, CACHE_NAMESPACE, key, load)
    return page_response(body, page, search)


@router.get(
    "/posts",
    response_model=list[PostRead],
    responses={**responses(422, 429, 503), 200: {"headers": LINK_HEADER}},
)
async def list_posts(
    page: PageDep,
    search: SearchDep,
    cache: CacheDep,
    reads: ReadsDep,
    author_id: AuthorFilter = None,
) -> Response:
    """List posts, newest first, or with `q` those that match, best first; a `Link` header points to the
    next page."""
    cached = cache_for(cache, page)

    async def load() -> bytes:
        # A transaction only when the cache misses: a hit touches no database connection.
        async with reads.current() if cached else reads.may_be_old() as tx:
            found = await service.list_posts(tx, page=page, author_id=author_id, search=search)
        return encode_page(found, page)

    key = variant(f"all:{author_id or ''}", page, search)
    body = await cached_body(cached, CACHE_NAMESPACE, key, load)
    return page_response(body, page, search)


@router.get(
    "/posts/{post_id}",
    response_model=PostRead,
    responses=answers(200, 304, 404, 422, 503, links=post_links()),
)
async def read_post(post: PostToRead) -> PostRecord:
    """Fetch one post, with its ETag; 304 when If-None-Match names it."""
    return post


@router.patch(
    "/posts/{post_id}",
    response_model=PostRead,
    responses=answers(200, *CHANGE_ERRORS, links=post_links()),
)
async def update_post(
    post_id: int,
    payload: PostUpdate,
    viewer: ViewerDep,
    tx: TransactionDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> PostRecord:
    """Change the fields sent and leave the others as they are; with If-Match, only if unchanged."""
    changes = payload.model_dump(exclude_unset=True)
    post = await service.POSTS.update(tx, post_id, changes, owner=viewer.only_author, if_match=if_match)
    return with_etag(response, post)


@router.delete(
    "/posts/{post_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(*DELETE_ERRORS),
)
async def delete_post(
    post_id: int, viewer: ViewerDep, tx: TransactionDep, if_match: IfMatchHeader = None
) -> None:
    """Delete a post; with If-Match, only if unchanged."""
    await service.POSTS.delete(tx, post_id, owner=viewer.only_author, if_match=if_match)
