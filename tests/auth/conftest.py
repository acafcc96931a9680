"""The app with sign-in on, on the test's rolled-back transaction."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.main import create_app
from tests.accounts import TEST_SECRET_KEY


@pytest.fixture(scope="session")
def secure_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"auth": True, "secret_key": SecretStr(TEST_SECRET_KEY), "login_max_failures": 3}
    )


@pytest.fixture
def secure_app(secure_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> FastAPI:
    app = create_app(secure_settings)
    app.state.sessionmaker = sessionmaker
    return app


@pytest.fixture
async def secure_client(secure_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=secure_app), base_url="http://inkwell.test"
    ) as client:
        yield client
