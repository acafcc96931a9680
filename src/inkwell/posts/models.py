from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, Row, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inkwell.orm import Base, Timestamped, versioned

if TYPE_CHECKING:
    from inkwell.users.models import User

TITLE_LENGTH = 200
BODY_LENGTH = 10_000


class Post(Timestamped, Base):
    __tablename__ = "posts"
    # A user's posts in id order, for the per-user list and the author filter.
    __table_args__ = (Index("ix_posts_author_id_id", "author_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    body: Mapped[str] = mapped_column(String(BODY_LENGTH))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The ORM increments it on every change and checks it in the same statement (see orm.versioned).
    version: Mapped[int] = mapped_column(server_default="1")

    author: Mapped["User"] = relationship(back_populates="posts", lazy="raise")

    __mapper_args__ = versioned(version)


@dataclass(frozen=True, slots=True)
class PostRecord:
    """A post as one statement read it: every column of `posts`."""

    id: int
    title: str
    body: str
    author_id: int
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> "PostRecord":
        return cls(**row._mapping)
