from typing import Annotated

from fastapi import Depends, Response

from inkwell.auth.dependencies import ViewerDep
from inkwell.auth.errors import NotYourPost
from inkwell.conditional import IfMatchHeader, IfNoneMatchHeader, answer_if_none_match, require_if_match
from inkwell.deps import SessionDep
from inkwell.posts import service
from inkwell.posts.errors import PostNotFound
from inkwell.posts.models import Post


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
