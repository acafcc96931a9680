from typing import Annotated

from fastapi import Depends

from inkwell.db import SessionDep
from inkwell.posts import service
from inkwell.posts.errors import PostNotFound
from inkwell.posts.models import Post


async def post_or_404(post_id: int, session: SessionDep) -> Post:
    post = await service.get_post(session, post_id)
    if post is None:
        raise PostNotFound
    return post


PostDep = Annotated[Post, Depends(post_or_404)]
