from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inkwell.orm import Base, Timestamped, UTCDateTime, versioned

if TYPE_CHECKING:
    from inkwell.posts.models import Post

EMAIL_LENGTH = 255
NAME_LENGTH = 100
BIO_LENGTH = 500
PASSWORD_HASH_LENGTH = 255


class User(Timestamped, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so the unique constraint is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    bio: Mapped[str | None] = mapped_column(String(BIO_LENGTH), default=None)
    # An Argon2id hash (PHC string); None for an account made without a password (an import, open mode).
    password_hash: Mapped[str | None] = mapped_column(String(PASSWORD_HASH_LENGTH), default=None)
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When the owner proved they read mail at `email` (None until then, and again once it changes).
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The ORM increments it on every change and checks it in the same statement (see orm.versioned).
    version: Mapped[int] = mapped_column(server_default="1")

    # The database deletes a user's posts (ON DELETE CASCADE); the ORM never loads them implicitly.
    posts: Mapped[list["Post"]] = relationship(back_populates="author", lazy="raise", passive_deletes=True)

    __mapper_args__ = versioned(version)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as one statement read it: every column of `users`."""

    id: int
    email: str
    name: str
    bio: str | None
    password_hash: str | None
    is_admin: bool
    email_verified_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> "UserRecord":
        return cls(**row._mapping)

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None
