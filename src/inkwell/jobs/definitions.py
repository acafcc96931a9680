"""Every job Inkwell runs, by the name stored in the outbox."""

from inkwell.auth.emails import (
    SEND_EMAIL_CHANGE,
    SEND_EMAIL_VERIFICATION,
    SEND_PASSWORD_RESET,
    send_email_change,
    send_email_verification,
    send_password_reset,
)
from inkwell.jobs.context import JobHandler
from inkwell.mail.jobs import SEND_EMAIL, send_email

JOBS: dict[str, JobHandler] = {
    SEND_EMAIL: send_email,
    SEND_EMAIL_VERIFICATION: send_email_verification,
    SEND_PASSWORD_RESET: send_password_reset,
    SEND_EMAIL_CHANGE: send_email_change,
}
