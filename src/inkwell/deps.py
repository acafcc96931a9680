"""The providers of what requests share: one per app-wide object, and the request's own transaction.

`create_app` puts each object on `app.state`; nothing else reads it. Routes and dependencies ask for
them through the `Annotated` aliases below.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from inkwell.auth.keys import Auth
from inkwell.auth.passwords import Passwords
from inkwell.auth.throttle import Throttle
from inkwell.cache.store import Cache
from inkwell.config import Settings
from inkwell.db import Database, Transaction

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Every provider is `async def`: FastAPI runs a plain `def` dependency in its thread pool, a hop that
# costs more than the provider itself. And each reads its object from the request alone: every
# dependency FastAPI solves costs a request about as much as a provider's work.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_cache(request: Request) -> Cache | None:
    cache: Cache | None = request.app.state.cache
    return cache


async def get_passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


async def get_optional_auth(request: Request) -> Auth | None:
    auth: Auth | None = request.app.state.auth
    return auth


async def get_auth(request: Request) -> Auth:
    auth: Auth | None = request.app.state.auth
    assert auth is not None, "sign-in routes are only mounted when sign-in is on"
    return auth


async def get_throttle(request: Request) -> Throttle:
    """Built with the database it counts in (`auth.throttle.throttle_for`)."""
    throttle: Throttle = request.app.state.throttle
    return throttle


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
CacheDep = Annotated[Cache | None, Depends(get_cache)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
OptionalAuthDep = Annotated[Auth | None, Depends(get_optional_auth)]
AuthDep = Annotated[Auth, Depends(get_auth)]
ThrottleDep = Annotated[Throttle, Depends(get_throttle)]


async def request_transaction(request: Request) -> AsyncIterator[Transaction]:
    """One transaction per request, committed before the response is sent. A read (GET, HEAD)
    runs without BEGIN and COMMIT where the database allows it; a write takes SQLite's write lock."""
    # The database read here rather than through DatabaseDep: one dependency fewer on every request.
    database: Database = request.app.state.database
    if request.method in SAFE_METHODS:
        async with database.reads() as tx:
            yield tx
        return
    async with database.transaction() as tx:
        yield tx


# scope="function" runs the commit when the route returns, so a failed commit can never follow a 2xx.
TransactionDep = Annotated[Transaction, Depends(request_transaction, scope="function")]
