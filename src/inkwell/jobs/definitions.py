"""Every job Inkwell runs, by the name stored in the outbox."""

from inkwell.jobs.context import JobHandler
from inkwell.mail.jobs import SEND_EMAIL, send_email

JOBS: dict[str, JobHandler] = {
    SEND_EMAIL: send_email,
}
