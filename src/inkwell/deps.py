"""The providers of what requests share: one per app-wide object, and the request's own transaction.

`create_app` puts each object on `app.state`; nothing else reads it. Routes and dependencies ask for
them through the `Annotated` aliases below.
"""

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from fastapi import Depends, Request

from inkwell.auth.keys import Auth
from inkwell.auth.passwords import Passwords
from inkwell.auth.throttle import Throttle
from inkwell.auth.tokens import InvalidToken
from inkwell.cache.store import Cache
from inkwell.config import Settings
from inkwell.db import Database, Transaction
from inkwell.replicas import POSITION_HEADER, Replicas, parse_position

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


async def get_traffic_throttle(request: Request) -> Throttle:
    """Searches' throttle, which never writes to the database (`auth.throttle.traffic_throttle_for`)."""
    throttle: Throttle = request.app.state.traffic_throttle
    return throttle


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
CacheDep = Annotated[Cache | None, Depends(get_cache)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
OptionalAuthDep = Annotated[Auth | None, Depends(get_optional_auth)]
AuthDep = Annotated[Auth, Depends(get_auth)]
ThrottleDep = Annotated[Throttle, Depends(get_throttle)]
TrafficThrottleDep = Annotated[Throttle, Depends(get_traffic_throttle)]


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


# --- reads that may be slightly old: the public lists, a user, a post, a user's posts, search ---


async def read_transaction(request: Request) -> AsyncIterator[Transaction]:
    """The transaction of a route that may read slightly old data: on a replica that has replayed every
    write the reader must see (`reads_for`), else on the primary. Without replicas it is exactly the
    primary's read, at no extra cost."""
    async with reads_for(request, request.app.state.database) as tx:
        yield tx


ReadTransactionDep = Annotated[Transaction, Depends(read_transaction, scope="function")]


class Reads:
    """A request's way to its read transaction, for a route that opens one only when it needs it (a page
    the cache holds needs none)."""

    __slots__ = ("database", "request")

    def __init__(self, request: Request, database: Database) -> None:
        self.request = request
        self.database = database

    def may_be_old(self) -> AbstractAsyncContextManager[Transaction]:
        """A read that may be served by a replica, as `read_transaction`'s."""
        return reads_for(self.request, self.database)

    def current(self) -> AbstractAsyncContextManager[Transaction]:
        """A read on the primary: for what is cached, which every later reader must find current."""
        return self.database.reads()


async def get_reads(request: Request) -> Reads:
    return Reads(request, request.app.state.database)


ReadsDep = Annotated[Reads, Depends(get_reads)]


def reads_for(request: Request, database: Database) -> AbstractAsyncContextManager[Transaction]:
    """A read that may be slightly old: on a replica that has replayed what the request must see; without
    replicas, the primary's read itself (no position is looked at)."""
    if database.replicas is None:
        return database.reads()
    return _replica_reads_for(request, database, database.replicas)


@asynccontextmanager
async def _replica_reads_for(
    request: Request, database: Database, replicas: Replicas
) -> AsyncIterator[Transaction]:
    """A read on a replica that has replayed what the request must see: the position it sends in
    `Inkwell-Position` (a 400 when that is not one), and its signed-in user's last write."""
    sent = request.headers.get(POSITION_HEADER)
    position = None if sent is None else parse_position(sent)
    try:
        remembered = await _remembered_position(request, replicas)
    except Exception:  # Redis failing: the reader's last write is unknown, and only the primary surely has it
        replicas.count("primary", "no_memory")
        async with database.reads() as tx:
            yield tx
        return
    if remembered is not None:
        position = max(position or 0, remembered)
    async with database.replica_reads(position) as tx:
        yield tx


async def _remembered_position(request: Request, replicas: Replicas) -> int | None:
    """The last write of the user whose access token the request carries, if recent (the token's
    signature is checked; its session is checked by the viewer's own dependency)."""
    auth: Auth | None = request.app.state.auth
    if auth is None:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        user_id = auth.access_tokens.read(token.strip()).user_id
    except InvalidToken:
        return None
    return await replicas.positions.recall(user_id)
