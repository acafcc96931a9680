"""What a job runs with, in the API process and in `inkwell worker` alike."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.mail.sender import Mailer
from inkwell.tracing import NO_TRACER


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    database: Database
    mailer: Mailer
    # What runs each job, by the name stored in the outbox (inkwell.job_handlers.JOBS).
    handlers: Mapping[str, "JobHandler"]
    tracer: Tracer = NO_TRACER  # each attempt's span (tracing off: a no-op)


JobHandler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


class PermanentJobError(Exception):
    """Raised by a job that can never succeed: it goes to the dead-letter state without more attempts."""
