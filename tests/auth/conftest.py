"""The app with sign-in on, on the test's rolled-back transaction."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from inkwell.config import Settings
from inkwell.db import Database
from tests.accounts import TEST_SECRET_KEY
from tests.apps import app_on, asgi_client


@pytest.fixture(scope="session")
def secure_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "auth": True,
            "secret_key": SecretStr(TEST_SECRET_KEY),
            "login_max_failures": 3,
            "login_max_failures_per_address": 6,
        }
    )


@pytest.fixture
def secure_app(secure_settings: Settings, database: Database) -> FastAPI:
    return app_on(secure_settings, database)


@pytest.fixture
async def secure_client(secure_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(secure_app) as client:
        yield client


@pytest.fixture
def committed_secure_app(secure_settings: Settings, committed_database: Database) -> FastAPI:
    """Sign-in on, on the real engine: for concurrent requests (what they commit is deleted after)."""
    return app_on(secure_settings, committed_database)
