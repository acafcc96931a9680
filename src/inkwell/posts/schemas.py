from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from inkwell import examples as example
from inkwell.fields import StorableStr, omittable
from inkwell.posts.models import BODY_LENGTH, TITLE_LENGTH

Title = Annotated[StorableStr, Field(min_length=1, max_length=TITLE_LENGTH, examples=[example.TITLE])]
Body = Annotated[StorableStr, Field(max_length=BODY_LENGTH, examples=[example.BODY])]


class PostCreate(BaseModel):
    title: Title
    body: Body


class PostUpdate(BaseModel):
    """Only the fields sent are changed; neither may be null."""

    title: Title = omittable()
    body: Body = omittable()


class PostRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    author_id: int
    created_at: datetime
    updated_at: datetime
