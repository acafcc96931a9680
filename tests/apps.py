"""The app on a test's database, and clients that call it in-process (through ASGI, no network)."""

import httpx
from fastapi import FastAPI

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.main import create_app

BASE_URL = "http://inkwell.test"


def app_on(settings: Settings, database: Database) -> FastAPI:
    """The app with `settings`, whose requests use `database` (the test's rolled-back transaction, or
    the real engine)."""
    return create_app(settings, database=database)


def asgi_client(app: FastAPI, *, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A client for `app`, its requests coming from `address`; use it in `async with`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)
