from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from inkwell.orm import Base, UTCDateTime, record_of, utcnow

SCOPE_LENGTH = 100
KEY_LENGTH = 255
FINGERPRINT_LENGTH = 64  # SHA-256, hex
ETAG_LENGTH = 100

# A stored response body can be larger than MariaDB's TEXT (64 KiB): a post's body is 10,000 characters.
ResponseBody = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class IdempotencyKey(Base):
    """A client's Idempotency-Key and the response its first request got."""

    __tablename__ = "idempotency_keys"
    # The unique constraint decides between two requests that bring the same key at once.
    __table_args__ = (
        UniqueConstraint("scope", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
        Index("ix_idempotency_keys_user_id", "user_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(SCOPE_LENGTH))
    # The signed-in user whose key it is (None for keys sent without signing in): it goes with them.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_LENGTH))
    # Null only inside the transaction that claims the key; the same transaction fills them in.
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(ResponseBody)
    etag: Mapped[str | None] = mapped_column(String(ETAG_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


if TYPE_CHECKING:
    IdempotencyKeyRecord = IdempotencyKey
else:
    IdempotencyKeyRecord = record_of(IdempotencyKey)
