"""Every job Inkwell runs, by the name stored in the outbox.

Assembled here, outside the packages that define the jobs, and handed to the job context by whoever runs
them (the app without Redis, `inkwell worker`): `jobs` runs handlers without knowing the domains that
write them, so neither sign-in nor mail and the job machinery import each other both ways.
"""

from collections.abc import Mapping

from inkwell.auth.emails import (
    SEND_EMAIL_CHANGE,
    SEND_EMAIL_VERIFICATION,
    SEND_PASSWORD_RESET,
    send_email_change,
    send_email_verification,
    send_password_reset,
)
from inkwell.jobs.context import JobHandler
from inkwell.jobs.mail import SEND_EMAIL, send_email

JOBS: Mapping[str, JobHandler] = {
    SEND_EMAIL: send_email,
    SEND_EMAIL_VERIFICATION: send_email_verification,
    SEND_PASSWORD_RESET: send_password_reset,
    SEND_EMAIL_CHANGE: send_email_change,
}
