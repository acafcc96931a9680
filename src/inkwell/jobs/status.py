"""The states of a job in the outbox: the model stores them, and `inkwell jobs list` offers them."""

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt
    DONE = "done"
    DEAD = "dead"  # gave up after the last attempt; `inkwell jobs retry` brings it back
