import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column

from inkwell.orm import NOT_SHOWN, Base, Timestamped, UTCDateTime, record_of

EMAIL_LENGTH = 255
NAME_LENGTH = 100
BIO_LENGTH = 500
PASSWORD_HASH_LENGTH = 255
STAMP_LENGTH = 32


def new_stamp() -> str:
    return secrets.token_hex(STAMP_LENGTH // 2)


class User(Timestamped, Base):
    __tablename__ = "users"
    # Ids are never used twice, on SQLite too: a new account never inherits what a deleted one left.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased, so the unique constraint is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    bio: Mapped[str | None] = mapped_column(String(BIO_LENGTH), default=None)
    # An Argon2id hash (PHC string); None for an account made without a password (an import, open mode).
    password_hash: Mapped[str | None] = mapped_column(
        String(PASSWORD_HASH_LENGTH), default=None, info=NOT_SHOWN
    )
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    # When the owner proved they read mail at `email` (None until then, and again once it changes).
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # One up with every change to what the API shows of the user (see inkwell.versioned): its ETag.
    version: Mapped[int] = mapped_column(server_default="1")
    # Replaced whenever the owner proves themselves anew (a new password, a reset, a confirmed email):
    # what was asked for under the old one (a mail still to be sent, a mailed token, a run of failed
    # sign-ins) no longer counts.
    security_stamp: Mapped[str] = mapped_column(String(STAMP_LENGTH), default=new_stamp, info=NOT_SHOWN)


if TYPE_CHECKING:
    UserRecord = User
else:
    UserRecord = record_of(User)
