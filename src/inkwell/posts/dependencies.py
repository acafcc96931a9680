from typing import Annotated

from fastapi import Depends, Response

from inkwell.conditional import IfNoneMatchHeader, answer_if_none_match
from inkwell.deps import TransactionDep
from inkwell.posts import service
from inkwell.posts.errors import PostNotFound
from inkwell.posts.models import PostRecord


async def post_to_read(
    post_id: int, tx: TransactionDep, response: Response, if_none_match: IfNoneMatchHeader = None
) -> PostRecord:
    """The post with its ETag; 404 when there is none, 304 when the client's copy (If-None-Match) is
    current."""
    post = await service.get_post(tx, post_id)
    if post is None:
        raise PostNotFound
    return answer_if_none_match(if_none_match, post, response)


PostToRead = Annotated[PostRecord, Depends(post_to_read)]
