from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from inkwell.orm import Base, UTCDateTime, utcnow
from inkwell.users.models import EMAIL_LENGTH, STAMP_LENGTH

SESSION_ID_LENGTH = 32  # 16 random bytes, hex
TOKEN_HASH_LENGTH = 64  # SHA-256, hex
THROTTLE_KEY_LENGTH = 300
PURPOSE_LENGTH = 20


class AuthSession(Base):
    """A signed-in session: one sign-in, and every token pair rotated from it (a refresh-token family).

    Access tokens name their session; revoking it ends them at once, before they expire.
    """

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id", "user_id"),)

    id: Mapped[str] = mapped_column(String(SESSION_ID_LENGTH), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Moved on by every refresh: a session unused for the refresh lifetime ends.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class RefreshToken(Base):
    """A refresh token, by its hash only. Used once: a second use revokes its whole session."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_session_id", "session_id"),)

    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class ThrottleCounter(Base):
    """Attempts counted against a key (an account, a client address, a mailbox) in its current window."""

    __tablename__ = "throttle_counters"
    __table_args__ = (Index("ix_throttle_counters_window_ends", "window_ends"),)

    key: Mapped[str] = mapped_column(String(THROTTLE_KEY_LENGTH), primary_key=True)
    hits: Mapped[int]
    window_ends: Mapped[datetime] = mapped_column(UTCDateTime())


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a purpose, not a password)
    # Mailed to a new address the account asked for; redeemed, it becomes the account's email.
    CHANGE_EMAIL = "change_email"


class AccountToken(Base):
    """A token mailed to an account's address, by its hash only: it works once, for one purpose, before
    it expires, only while the account has the security stamp it had when the token was asked for, and
    only while the account still has the address it was sent to (a `change_email` token, sent to the new
    address, works until it is used up or spent)."""

    __tablename__ = "account_tokens"
    __table_args__ = (Index("ix_account_tokens_user_id", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(PURPOSE_LENGTH))
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    # The account's security stamp when the token was asked for: it works only while the stamp is the same.
    stamp: Mapped[str] = mapped_column(String(STAMP_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
