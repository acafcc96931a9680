"""Liveness and readiness, for load balancers and orchestrators: cheap and unauthenticated."""

import asyncio
from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel
from sqlalchemy import text

from inkwell.db import Database
from inkwell.deps import DatabaseDep, SettingsDep
from inkwell.errors import InkwellError
from inkwell.responses import responses

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class DatabaseNotReady(InkwellError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    detail = "The database does not answer"


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is up and serving requests."""
    return Health()


@router.get("/readyz", response_model=Health, responses=responses(503))
async def readyz(database: DatabaseDep, settings: SettingsDep) -> Health:
    """The database answers; 503 with the reason when it does not."""
    await check_database(database, seconds=settings.ready_timeout)
    return Health()


async def check_database(database: Database, *, seconds: float) -> None:
    """Raise `DatabaseNotReady` unless the database runs a query within `seconds`."""
    try:
        async with asyncio.timeout(seconds), database.reads() as tx:
            await tx.connection.execute(text("SELECT 1"))
    except TimeoutError:
        raise DatabaseNotReady(f"The database did not answer within {seconds:g} s") from None
    except Exception as exc:
        # The exception's class says what failed (refused, unknown host, bad password) without echoing the
        # driver's message, which may name the account.
        raise DatabaseNotReady(f"The database does not answer: {type(exc).__name__}") from None
