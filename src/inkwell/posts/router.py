from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from inkwell.db import SessionDep
from inkwell.errors import responses
from inkwell.fields import MAX_ID
from inkwell.pagination import PageDep, page_of
from inkwell.posts import service
from inkwell.posts.dependencies import PostDep
from inkwell.posts.models import Post
from inkwell.posts.schemas import PostCreate, PostRead, PostUpdate

router = APIRouter(tags=["posts"])


@router.post(
    "/users/{user_id}/posts",
    response_model=PostRead,
    status_code=status.HTTP_201_CREATED,
    responses=responses(404),
)
async def create_post(user_id: int, payload: PostCreate, session: SessionDep) -> Post:
    """Write a post as the given user."""
    return await service.create_post(session, author_id=user_id, data=payload)


@router.get("/users/{user_id}/posts", response_model=list[PostRead], responses=responses(404))
async def list_user_posts(user_id: int, session: SessionDep, page: PageDep, response: Response) -> list[Post]:
    """List a user's posts, oldest first; a `Link` header points to the next page."""
    return page_of(await service.list_user_posts(session, author_id=user_id, page=page), page, response)


@router.get("/posts", response_model=list[PostRead])
async def list_posts(
    session: SessionDep,
    page: PageDep,
    response: Response,
    author_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this author's posts.")] = None,
) -> list[Post]:
    """List posts, newest first; a `Link` header points to the next page."""
    return page_of(await service.list_posts(session, page=page, author_id=author_id), page, response)


@router.get("/posts/{post_id}", response_model=PostRead, responses=responses(404))
async def read_post(post: PostDep) -> Post:
    """Fetch one post."""
    return post


@router.patch("/posts/{post_id}", response_model=PostRead, responses=responses(404))
async def update_post(post: PostDep, payload: PostUpdate, session: SessionDep) -> Post:
    """Change the fields sent and leave the others as they are."""
    return await service.update_post(session, post, changes=payload.model_dump(exclude_unset=True))


@router.delete("/posts/{post_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404))
async def delete_post(post: PostDep, session: SessionDep) -> None:
    """Delete a post."""
    await service.delete_post(session, post)
