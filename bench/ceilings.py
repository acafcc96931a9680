"""The two lower bounds Inkwell is measured against, served as `inkwell serve` serves Inkwell
(bench/serving.py).

- bare: a FastAPI endpoint with no database: what the framework and the server cost on their own;
- raw: a plain ASGI handler doing one asyncpg `fetchrow` by primary key: the driver's own limit.
"""

import argparse
import json
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from bench.serving import collecting_garbage_as_inkwell, open_pool, serve

USER_QUERY = "SELECT id, email, name, bio, created_at, updated_at FROM users WHERE id = $1"
USERS_PREFIX = "/users/"
JSON_HEADERS = [(b"content-type", b"application/json")]


def bare_app() -> FastAPI:
    """A FastAPI app whose GET /users/{user_id} answers a fixed user without touching a database."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with collecting_garbage_as_inkwell():
            yield

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/users/{user_id}")
    async def read_user(user_id: int) -> dict[str, Any]:
        return {
            "id": user_id,
            "email": "bare@example.com",
            "name": "Bare",
            "bio": None,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }

    return app


class RawUserApp:
    """GET /users/{id} straight through an asyncpg pool: no framework, no ORM, no validation."""

    def __init__(self, dsn: str, *, pool_size: int) -> None:
        self.dsn = dsn
        self.pool_size = pool_size
        self.pool: asyncpg.Pool | None = None
        self._serving = ExitStack()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            status, body = await self._answer(scope["method"], scope["path"])
            await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
            await send({"type": "http.response.body", "body": body})

    async def _answer(self, method: str, path: str) -> tuple[int, bytes]:
        user_id = parse_user_id(path)
        if method != "GET" or user_id is None:
            return 404, b'{"detail":"Not Found"}'
        assert self.pool is not None
        row = await self.pool.fetchrow(USER_QUERY, user_id)
        if row is None:
            return 404, b'{"detail":"User not found"}'
        return 200, json.dumps(dict(row), default=_isoformat).encode()

    async def startup(self) -> None:
        self.pool = await open_pool(self.dsn, size=self.pool_size)
        self._serving.enter_context(collecting_garbage_as_inkwell())

    async def shutdown(self) -> None:
        self._serving.close()
        if self.pool is not None:
            await self.pool.close()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def parse_user_id(path: str) -> int | None:
    """The id in `/users/{id}`, or None for any other path or an id out of the 32-bit range."""
    if not path.startswith(USERS_PREFIX):
        return None
    tail = path[len(USERS_PREFIX) :]
    if not tail.isdigit() or len(tail) > 10:
        return None
    user_id = int(tail)
    return user_id if 1 <= user_id <= 2**31 - 1 else None


def _isoformat(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one of the benchmark's ceilings.")
    parser.add_argument("which", choices=["bare", "raw"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", help="PostgreSQL DSN (raw only)")
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args(argv)
    if args.which == "raw":
        if not args.dsn:
            parser.error("raw needs --dsn")
        app: Any = RawUserApp(args.dsn, pool_size=args.pool_size)
    else:
        app = bare_app()
    serve(app, args.port)


if __name__ == "__main__":
    main()
