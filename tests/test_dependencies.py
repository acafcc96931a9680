"""Every dependency of every route is `async`: FastAPI runs a plain `def` one in its thread pool, a hop
that costs a request more than the dependency's own work."""

import inspect

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from inkwell.auth.router import account_router
from inkwell.auth.router import router as auth_router
from inkwell.auth.schemas import SignInForm
from inkwell.health import router as health_router
from inkwell.posts.router import router as posts_router
from inkwell.users.router import open_router as open_users_router
from inkwell.users.router import router as users_router

ROUTERS = [users_router, open_users_router, posts_router, auth_router, account_router, health_router]
# Sign-in's OAuth2 form is a dataclass FastAPI builds from the form fields, in its thread pool: one hop
# on a request that verifies a password with Argon2, which costs a thousand times more.
IN_THREAD_POOL_ON_PURPOSE = {SignInForm}


def runs_in_thread_pool(dependant: Dependant) -> list[str]:
    found = []
    call = dependant.call
    if call is not None and call not in IN_THREAD_POOL_ON_PURPOSE:
        awaited: object = call if inspect.isfunction(call) else type(call).__call__
        if not (inspect.iscoroutinefunction(awaited) or inspect.isasyncgenfunction(awaited)):
            found.append(getattr(call, "__qualname__", repr(call)))
    for sub in dependant.dependencies:
        found += runs_in_thread_pool(sub)
    return found


def routes(router: APIRouter) -> list[APIRoute]:
    return [route for route in router.routes if isinstance(route, APIRoute)]


def test_no_dependency_runs_in_the_thread_pool() -> None:
    found = {
        f"{route.name}: {name}"
        for router in ROUTERS
        for route in routes(router)
        for name in runs_in_thread_pool(route.dependant)
    }

    assert found == set()
