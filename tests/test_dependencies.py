"""Every dependency of every route is `async`: FastAPI runs a plain `def` one in its thread pool, a hop
that costs a request more than the dependency's own work."""

import inspect

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from inkwell.auth.schemas import SignInForm
from inkwell.main import create_app
from tests.test_operation_ids import settings_for

# Sign-in's OAuth2 form is a dataclass FastAPI builds from the form fields, in its thread pool: one hop
# on a request that verifies a password with Argon2, which costs a thousand times more.
IN_THREAD_POOL_ON_PURPOSE = {SignInForm}


def runs_in_thread_pool(dependant: Dependant) -> list[str]:
    found = []
    call = dependant.call
    if call is not None and call not in IN_THREAD_POOL_ON_PURPOSE:
        plain = inspect.isfunction(call) or inspect.ismethod(call)
        awaited: object = call if plain else type(call).__call__
        if not (inspect.iscoroutinefunction(awaited) or inspect.isasyncgenfunction(awaited)):
            found.append(getattr(call, "__qualname__", repr(call)))
    for sub in dependant.dependencies:
        found += runs_in_thread_pool(sub)
    return found


@pytest.mark.parametrize("sign_in", [True, False], ids=["sign-in on", "sign-in off"])
def test_no_dependency_runs_in_the_thread_pool(sign_in: bool) -> None:
    app = create_app(settings_for(sign_in=sign_in))
    routes = [
        route for route in iter_route_contexts(app.routes) if isinstance(route.original_route, APIRoute)
    ]
    found = {f"{route.name}: {name}" for route in routes for name in runs_in_thread_pool(route.dependant)}

    assert len(routes) > 10  # every route the app serves
    assert found == set()
