"""Every job Inkwell runs, by the name stored in the outbox."""

from inkwell.auth.emails import (
    SEND_EMAIL_VERIFICATION,
    SEND_PASSWORD_RESET,
    send_email_verification,
    send_password_reset,
)
from inkwell.jobs.context import JobHandler

JOBS: dict[str, JobHandler] = {
    SEND_EMAIL_VERIFICATION: send_email_verification,
    SEND_PASSWORD_RESET: send_password_reset,
}
