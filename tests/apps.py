"""The app on a test's sessions, and clients that call it in-process (through ASGI, no network)."""

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.main import create_app

BASE_URL = "http://inkwell.test"


def app_on(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> FastAPI:
    """The app with `settings`, whose requests use `sessionmaker` (the test's rolled-back transaction)."""
    app = create_app(settings)
    app.state.sessionmaker = sessionmaker
    return app


def asgi_client(app: FastAPI, *, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client for `app`, its requests coming from `address`; use it in `async with`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)
