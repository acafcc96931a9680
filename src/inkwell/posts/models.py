from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from inkwell.orm import CACHED, Base, Timestamped, record_of

TITLE_LENGTH = 200
BODY_LENGTH = 10_000


class Post(Timestamped, Base):
    __tablename__ = "posts"
    __table_args__ = (
        # A user's posts in id order, for the per-user list and the author filter.
        Index("ix_posts_author_id_id", "author_id", "id"),
        # The lists of posts are cached; ids are never used twice, on SQLite too.
        {"info": CACHED, "sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    body: Mapped[str] = mapped_column(String(BODY_LENGTH))
    # The database deletes a user's posts with the user.
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # One up with every change (see inkwell.versioned): its ETag.
    version: Mapped[int] = mapped_column(server_default="1")


if TYPE_CHECKING:
    PostRecord = Post
else:
    PostRecord = record_of(Post)
