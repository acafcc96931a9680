"""Sign-in's own tests: lower limits on failed passwords, so that the throttle is reached in a few tries."""

import pytest

from inkwell.config import Settings


@pytest.fixture(scope="session")
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"login_max_failures": 3, "login_max_failures_per_address": 6})
