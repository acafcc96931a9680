"""The application factory."""

import asyncio
import contextlib
import gc
import importlib.resources
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_oauth2_redirect_html
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from opentelemetry.trace import Tracer
from sqlalchemy.pool import Pool
from starlette.middleware import Middleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse

from inkwell import __version__
from inkwell.auth.cleanup import purge_sign_in_leftovers
from inkwell.auth.keys import Auth, signing_key
from inkwell.auth.passwords import Passwords
from inkwell.auth.router import account_router
from inkwell.auth.router import router as auth_router
from inkwell.auth.throttle import throttle_for, traffic_throttle_for
from inkwell.config import Settings, get_settings
from inkwell.db import Database, database_for
from inkwell.docs_pages import install_docs_pages, swagger_ui_page
from inkwell.error_handlers import handle_unexpected, install_error_handlers
from inkwell.health import router as health_router
from inkwell.housekeeping import purge_periodically
from inkwell.idempotency.cleanup import purge_once
from inkwell.job_handlers import JOBS
from inkwell.jobs.cleanup import purge_finished_jobs
from inkwell.jobs.context import JobContext
from inkwell.jobs.runner import OutboxRunner
from inkwell.logs import configure_logging
from inkwell.mail.sender import create_mailer
from inkwell.metrics import HttpMetrics, install_metrics
from inkwell.middleware import (
    BodySizeLimit,
    Observe,
    ReadYourWrites,
    RequestLog,
    SecurityHeaders,
    endpoint_templates,
)
from inkwell.pagination import document_max_offset
from inkwell.posts.cleanup import reconcile_search_texts
from inkwell.posts.router import router as posts_router
from inkwell.replicas import POSITION_HEADER, Positions
from inkwell.tracing import Tracing, start_tracing, tracer_of
from inkwell.users.router import open_router as open_users_router
from inkwell.users.router import router as users_router

logger = logging.getLogger("inkwell")

# The Swagger UI and ReDoc that fastapi-offline ships, served by Inkwell itself.
DOCS_ASSETS = importlib.resources.files("fastapi_offline") / "static"
DOCS_ASSETS_URL = "/static-offline-docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"


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
        watcher = None if db.replicas is None else asyncio.create_task(_watch_replicas(db, metrics))
        try:
            with collecting_garbage_less_often(settings.gc_threshold):
                yield
        finally:
            for task in (purger, watcher):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if jobs is not None:
                await jobs.stop()
            if own:
                await db.dispose()
                logger.info("database pool closed")
            if own_tracing is not None:
                own_tracing.shutdown()

    app = InkwellAPI(
        title="Inkwell",
        version=__version__,
        description="Users and their posts, over HTTP.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # No spec validator badge: it would send the spec's address to an outside service.
        swagger_ui_parameters={"validatorUrl": None},
        max_offset=settings.max_offset,
        sign_in=settings.auth,
    )
    app.state.settings = settings
    app.state.passwords = Passwords.from_settings(settings)
    _serve(app, database, settings)
    app.state.auth = _auth(settings, app.state.passwords)
    install_error_handlers(app)
    metrics = (
        install_metrics(
            app,
            pool_of=lambda: _pool_of(app),
            token=settings.metrics_token,
            shared_dir=settings.metrics_dir,
            replicas=bool(settings.db_replica_urls),
        )
        if settings.metrics
        else None
    )
    observe = None if metrics is None else metrics.observe
    install_docs_pages(app)
    app.include_router(health_router)
    if app.state.auth is not None:
        # Before the users routes, so that /users/me is not taken for /users/{user_id}.
        app.include_router(auth_router)
        app.include_router(account_router)
        app.include_router(users_router)
    else:
        app.include_router(open_users_router)
    app.include_router(posts_router)
    _add_middleware(app, settings, observe=observe, tracing=tracing)
    return app


class InkwellAPI(FastAPI):
    """FastAPI, with documentation pages that load Swagger UI and ReDoc from Inkwell itself (so /docs
    works offline and under a strict Content-Security-Policy), and an OpenAPI document that says what
    these settings serve.

    The copies of Swagger UI and ReDoc are fastapi-offline's; it builds its app with a function, not a
    class, so the pages are made here, by FastAPI's own recipe for self-hosted assets.
    """

    def __init__(self, *, max_offset: int, sign_in: bool, **kwargs: Any) -> None:
        super().__init__(docs_url=None, redoc_url=None, **kwargs)
        self.max_offset = max_offset
        self.sign_in = sign_in
        self.mount(DOCS_ASSETS_URL, StaticFiles(directory=str(DOCS_ASSETS)), name="static-offline-docs")
        self.add_api_route("/docs", self.swagger_ui_html, include_in_schema=False)
        self.add_api_route(OAUTH2_REDIRECT_URL, self.swagger_ui_redirect, include_in_schema=False)
        self.add_api_route("/redoc", self.redoc_html, include_in_schema=False)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, with the deepest `offset` taken and, with sign-in off, no token asked for
        anywhere (none is checked)."""
        kept = self.openapi_schema
        schema = super().openapi()
        if schema is not kept:  # built anew: the first time, or after a route was added
            document_max_offset(schema, self.max_offset)
            if not self.sign_in:
                _ask_for_no_token(schema)
        return schema

    async def swagger_ui_html(self, request: Request) -> HTMLResponse:
        return swagger_ui_page(self, request, assets_url=DOCS_ASSETS_URL)

    async def swagger_ui_redirect(self) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc_html(self, request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{self.openapi_url}",
            title=f"{self.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )


def _add_middleware(
    app: FastAPI, settings: Settings, *, observe: Observe | None, tracing: Tracing | None
) -> None:
    """The layers every request passes through, outermost first. FastAPI puts its own around them (its
    ServerErrorMiddleware) and inside them (its ExceptionMiddleware, which runs the error handlers, and
    the routes)."""
    cors = Middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        # Conditional requests and idempotent retries need these readable by browser clients too.
        expose_headers=["X-Request-ID", "ETag", "Idempotent-Replayed", POSITION_HEADER],
    )
    layers = [
        Middleware(RequestLog, observe=observe, templates=endpoint_templates(app.routes)),
        Middleware(SecurityHeaders),
        *(tracing.request_middleware() if tracing is not None else []),
        # An unexpected error is answered here, inside the layers above, so that its 500 is logged,
        # counted and traced, and carries the request id and the security headers, like any other
        # response. FastAPI's own ServerErrorMiddleware, outermost, then finds the response sent and only
        # passes the error on to the server, which logs its traceback.
        Middleware(ServerErrorMiddleware, handler=handle_unexpected),
        *(tracing.error_middleware() if tracing is not None else []),
        *([cors] if settings.cors_origins else []),
        Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes),
        *(
            [Middleware(ReadYourWrites, positions_of=lambda: _positions_of(app))]
            if settings.db_replica_urls
            else []
        ),
    ]
    for cls, args, kwargs in reversed(layers):  # each one added goes around those added before it
        app.add_middleware(cls, *args, **kwargs)


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
    app.state.traffic_throttle = None if database is None else traffic_throttle_for(database, settings)


def _pool_of(app: FastAPI) -> Pool | None:
    """The pool of the database the requests use, for the metrics; None before start-up."""
    database: Database | None = app.state.database
    engine = None if database is None else database.engine
    return None if engine is None else engine.pool


def _positions_of(app: FastAPI) -> Positions | None:
    """Where the users' last writes are remembered, for the middleware; None before start-up."""
    database: Database | None = app.state.database
    return None if database is None or database.replicas is None else database.replicas.positions


async def _watch_replicas(database: Database, metrics: HttpMetrics | None) -> None:
    """Check the replicas' lag until the app stops, showing it (and where reads went) in the metrics."""
    assert database.replicas is not None
    publish = None if metrics is None or metrics.replicas is None else metrics.replicas.publish
    await database.replicas.watch(database.write_position, publish)


def _purges(settings: Settings, database: Database) -> list[Callable[[], Awaitable[int]]]:
    """What the app deletes in the background, with or without Redis: expired idempotency keys, finished
    jobs, sign-in's leftovers, and the search texts no post holds (MariaDB with Mroonga). `inkwell worker`
    leaves it to the API: one process is enough."""
    keep_jobs = timedelta(days=settings.job_keep_finished_days)
    purges: list[Callable[[], Awaitable[int]]] = [
        lambda: purge_once(database),
        lambda: purge_finished_jobs(database, keep=keep_jobs),
        lambda: reconcile_search_texts(database),
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


def _ask_for_no_token(schema: dict[str, Any]) -> None:
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            operation.pop("security", None)
    schema.get("components", {}).pop("securitySchemes", None)


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
