from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from inkwell.jobs.status import JobStatus as JobStatus  # where the service and the tests find it
from inkwell.orm import Base, Timestamped, UTCDateTime, record_of, utcnow

NAME_LENGTH = 100
ERROR_LENGTH = 1000


class OutboxJob(Timestamped, Base):
    """A job written in the same transaction as the change that calls for it (a transactional outbox).

    The row is the job's record in both modes: the in-process runner works from it directly, and with
    Redis it is handed to the queue and marked done by the worker that ran it.
    """

    __tablename__ = "outbox"
    # The runner's and the relay's scan: pending jobs, oldest due first.
    __table_args__ = (
        Index("ix_outbox_status_available_at", "status", "available_at"),
        Index("ix_outbox_user_id", "user_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    # The account a job acts for (a token to mail it), when it has one: the job goes with the account.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), default=None)
    payload: Mapped[str] = mapped_column(Text)  # JSON, written and read by the job service
    status: Mapped[str] = mapped_column(String(10), default=JobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # While an attempt runs, no other worker may start one; a worker that dies lets it lapse.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # When the job was last handed to the Redis queue (None: not yet, or not using Redis).
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_error: Mapped[str | None] = mapped_column(String(ERROR_LENGTH), default=None)
    # The W3C traceparent of the span that wrote the job (a request's), when tracing is on: the job's own
    # span links to it. Version 00, the only one written, is 55 characters.
    traceparent: Mapped[str | None] = mapped_column(String(55), default=None)


if TYPE_CHECKING:
    OutboxJobRecord = OutboxJob
else:
    OutboxJobRecord = record_of(OutboxJob)
