"""The account mail's tests: mail goes to the test's SMTP server, and jobs run when a test says so."""

import pytest
from pydantic import SecretStr

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.job_handlers import JOBS
from inkwell.jobs.context import JobContext
from inkwell.mail.sender import create_mailer
from tests.smtp import MailSink

PUBLIC_URL = "https://inkwell.example"


@pytest.fixture
def settings(settings: Settings, mail: MailSink) -> Settings:
    """Mail to the test's SMTP server."""
    return settings.model_copy(update={"smtp_url": SecretStr(mail.url), "public_url": PUBLIC_URL + "/"})


@pytest.fixture
def ctx(settings: Settings, database: Database) -> JobContext:
    """What a worker gives a job, on the test's database: run jobs with `run_jobs`."""
    return JobContext(settings, database, create_mailer(settings), JOBS)
