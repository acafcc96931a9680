"""Every model, imported once so that `metadata` knows all the tables (for Alembic)."""

from inkwell.auth.models import AccountToken, AuthSession, RefreshToken, ThrottleCounter
from inkwell.idempotency.models import IdempotencyKey
from inkwell.jobs.models import OutboxJob
from inkwell.orm import Base
from inkwell.posts.models import Post
from inkwell.users.models import User

metadata = Base.metadata

__all__ = [
    "AccountToken",
    "AuthSession",
    "IdempotencyKey",
    "OutboxJob",
    "Post",
    "RefreshToken",
    "ThrottleCounter",
    "User",
    "metadata",
]
