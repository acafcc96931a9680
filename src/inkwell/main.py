"""The application factory."""

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from opentelemetry.trace import Tracer
from sqlalchemy.pool import Pool
from starlette.types import ASGIApp

from inkwell import __version__
from inkwell.auth.cleanup import purge_sign_in_leftovers
from inkwell.auth.keys import Auth, signing_key
from inkwell.auth.passwords import Passwords
from inkwell.auth.router import account_router
from inkwell.auth.router import router as auth_router
from inkwell.auth.throttle import throttle_for
from inkwell.config import Settings, get_settings
from inkwell.db import Database, database_for
from inkwell.error_handlers import install_error_handlers
from inkwell.health import router as health_router
from inkwell.housekeeping import purge_periodically
from inkwell.idempotency.cleanup import purge_once
from inkwell.job_handlers import JOBS
from inkwell.jobs.cleanup import purge_finished_jobs
from inkwell.jobs.context import JobContext
from inkwell.jobs.runner import OutboxRunner
from inkwell.logs import configure_logging, request_logger
from inkwell.mail.sender import create_mailer
from inkwell.metrics import install_metrics
from inkwell.middleware import BodySizeLimit, RequestLog, SecurityHeaders, endpoint_templates
from inkwell.pagination import document_max_offset
from inkwell.posts.router import router as posts_router
from inkwell.tracing import Tracing, start_tracing, tracer_of
from inkwell.users.router import open_router as open_users_router
from inkwell.users.router import router as users_router

logger = logging.getLogger("inkwell")


@contextmanager
def collecting_garbage_less_often(threshold: int) -> Iterator[None]:
    """Collect cyclic garbage every `threshold` net allocations instead of Python's 700.

    Requests allocate many short-lived objects (ORM state, pydantic models); at the default the
    collector ran hundreds of times a second under load and took a fifth of the CPU. What start-up
    loaded is frozen, so the collections that do run skip it. Memory stays bounded: every cycle is
    still collected, only later.
    """
    previous = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(threshold, previous[1], previous[2])
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


def create_app(
    settings: Settings | None = None, *, database: Database | None = None, tracing: Tracing | None = None
) -> FastAPI:
    """Build the app. Without `database`, the engine (and Redis, when set) open at start-up and close
    at shutdown; a `database` given (with its cache) is the caller's to close.

    Traces go where the OTEL_* settings say (nowhere by default), or to `tracing` when it is given (its
    giver shuts it down).
    """
    settings = settings or get_settings()
    configure_logging(settings)
    own_tracing = None if tracing is not None else start_tracing(settings)
    tracing = tracing or own_tracing

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = database is None
        db = database or database_for(settings, tracing)
        _serve(app, db, settings)
        purger = asyncio.create_task(
            purge_periodically(_purges(settings, db), interval=settings.purge_interval)
        )
        # Without Redis there is no queue and no `inkwell worker` is needed: the API runs the jobs.
        jobs = None if db.cache else _start_job_runner(settings, db, tracer_of(tracing))
        try:
            with collecting_garbage_less_often(settings.gc_threshold):
                yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            if jobs is not None:
                await jobs.stop()
            if own:
                await db.dispose()
                logger.info("database pool closed")
            if own_tracing is not None:
                own_tracing.shutdown()

    # Swagger UI and ReDoc assets are served by Inkwell itself (fastapi-offline), so /docs works offline.
    app = FastAPIOffline(
        title="Inkwell",
        version=__version__,
        description="Users and their posts, over HTTP.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # No spec validator badge: it would send the spec's address to an outside service.
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.settings = settings
    app.state.passwords = Passwords.from_settings(settings)
    _serve(app, database, settings)
    app.state.auth = _auth(settings, app.state.passwords)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            # Conditional requests and idempotent retries need these readable by browser clients too.
            expose_headers=["X-Request-ID", "ETag", "Idempotent-Replayed"],
        )
    observe = (
        install_metrics(
            app, pool_of=lambda: _pool_of(app), token=settings.metrics_token, shared_dir=settings.metrics_dir
        ).observe
        if settings.metrics
        else None
    )
    app.include_router(health_router)
    if app.state.auth is not None:
        # Before the users routes, so that /users/me is not taken for /users/{user_id}.
        app.include_router(auth_router)
        app.include_router(account_router)
        app.include_router(users_router)
    else:
        app.include_router(open_users_router)
    app.include_router(posts_router)
    _document_settings(app, settings)
    if tracing is not None:
        tracing.instrument_app(app)  # before the outermost wrapping: see Tracing.instrument_app
    _wrap_outermost(
        app,
        lambda inner: RequestLog(
            SecurityHeaders(inner),
            logger=request_logger(),
            observe=observe,
            templates=endpoint_templates(app.routes),
        ),
    )
    return app


def operation_id(route: APIRoute) -> str:
    """The route function's name (create_user, list_user_posts): what generated clients call the method.

    FastAPI's default adds the path and the method (create_user_users_post). A route that stands in for
    another in one mode (the open sign-up) takes the other's name, so the id is the same in every mode.
    """
    return route.name


def _serve(app: FastAPI, database: Database | None, settings: Settings) -> None:
    """Make `database` (its cache, and the throttle counting in them) the one the requests use."""
    app.state.database = database
    app.state.cache = None if database is None else database.cache
    app.state.throttle = None if database is None else throttle_for(database, settings)


def _pool_of(app: FastAPI) -> Pool | None:
    """The pool of the database the requests use, for the metrics; None before start-up."""
    database: Database | None = app.state.database
    engine = None if database is None else database.engine
    return None if engine is None else engine.pool


def _purges(settings: Settings, database: Database) -> list[Callable[[], Awaitable[int]]]:
    """What the app deletes in the background, with or without Redis: expired idempotency keys, finished
    jobs, and sign-in's leftovers. `inkwell worker` leaves it to the API: one process is enough."""
    keep_jobs = timedelta(days=settings.job_keep_finished_days)
    purges: list[Callable[[], Awaitable[int]]] = [
        lambda: purge_once(database),
        lambda: purge_finished_jobs(database, keep=keep_jobs),
    ]
    if settings.auth:
        purges.append(lambda: purge_sign_in_leftovers(database))
    return purges


def _auth(settings: Settings, passwords: Passwords) -> Auth | None:
    if not settings.auth:
        logger.warning(
            "sign-in is off (INKWELL_AUTH=off): anyone may change or delete any user or post; "
            "use it for prototyping only"
        )
        return None
    return Auth(settings=settings, key=signing_key(settings), passwords=passwords)


def _document_settings(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI document as these settings serve it: the deepest `offset` taken and, with sign-in
    off, no token asked for anywhere (none is checked)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            document_max_offset(schema, settings.max_offset)
            if not settings.auth:
                _ask_for_no_token(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _ask_for_no_token(schema: dict[str, Any]) -> None:
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.pop("security", None)
    schema.get("components", {}).pop("securitySchemes", None)


def _wrap_outermost(app: FastAPI, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
    # Outside Starlette's ServerErrorMiddleware, so that its 500 responses carry the request id and the
    # security headers, and are logged and counted like any other.
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: wrap(build())  # type: ignore[method-assign]


class _BackgroundRunner:
    def __init__(self, runner: OutboxRunner) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(runner.run(self._stop))

    async def stop(self) -> None:
        self._stop.set()
        await self._task


def _start_job_runner(settings: Settings, database: Database, tracer: Tracer) -> _BackgroundRunner:
    mailer = create_mailer(settings, tracer=tracer)
    ctx = JobContext(settings, database, mailer, JOBS, tracer)
    return _BackgroundRunner(OutboxRunner(ctx))
