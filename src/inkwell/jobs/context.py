"""What a job runs with, in the API process and in `inkwell worker` alike."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.mail.sender import Mailer


@dataclass(frozen=True)
class JobContext:
    settings: Settings
    database: Database
    mailer: Mailer


JobHandler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


class PermanentJobError(Exception):
    """Raised by a job that can never succeed: it goes to the dead-letter state without more attempts."""
