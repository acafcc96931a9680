"""The application factory."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from inkwell import __version__
from inkwell.config import Settings, get_settings
from inkwell.db import create_engine, create_sessionmaker
from inkwell.errors import install_error_handlers
from inkwell.middleware import BodySizeLimit
from inkwell.posts.router import router as posts_router
from inkwell.users.router import router as users_router

logger = logging.getLogger("inkwell")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the database engine opens at start-up and closes at shutdown."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        try:
            yield
        finally:
            await engine.dispose()

    # Swagger UI and ReDoc assets are served by Inkwell itself (fastapi-offline), so /docs works offline.
    app = FastAPIOffline(
        title="Inkwell",
        version=__version__,
        description="Users and their posts, over HTTP.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(users_router)
    app.include_router(posts_router)
    return app
