"""Sign-in's own tests: lower limits on failed passwords, so that the throttle is reached in a few tries."""

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from inkwell.config import Settings
from tests.apps import app_counting_in


@pytest.fixture(scope="session")
def settings(settings: Settings) -> Settings:
    limits = {
        "login_max_failures": 3,
        "login_max_failures_per_account": 5,
        "login_max_failures_per_address": 6,
    }
    return settings.model_copy(update=limits)


@pytest.fixture(params=["database", "redis"])
async def throttled_app(
    request: pytest.FixtureRequest, settings: Settings, connection: AsyncConnection
) -> AsyncIterator[FastAPI]:
    """The app in the test's rolled-back transaction, counting attempts in the database or in Redis."""
    async with app_counting_in(request, settings, connection) as app:
        yield app
