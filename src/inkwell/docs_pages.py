"""The pages a person opens in a browser: `/` leads to the interactive docs at `/docs`, Swagger UI with
Inkwell's own sign-in dialog, a Swagger UI plugin in `static/sign-in.js`."""

import html
import json
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import swagger_ui_default_parameters
from fastapi.responses import HTMLResponse, RedirectResponse, Response

DOCS_URL = "/docs"
SIGN_IN_SCRIPT_URL = "/docs/sign-in.js"


def install_docs_pages(app: FastAPI) -> None:
    """Serve `/`, which leads to the docs, and the sign-in script the docs page loads."""
    script = (files("inkwell") / "static" / "sign-in.js").read_bytes()

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> RedirectResponse:
        """The address the server prints: the docs, where the API can be tried from the browser."""
        return RedirectResponse(_root(request) + DOCS_URL)

    @app.get(SIGN_IN_SCRIPT_URL, include_in_schema=False)
    async def sign_in_script() -> Response:
        return Response(script, media_type="text/javascript")


def swagger_ui_page(app: FastAPI, request: Request, *, assets_url: str) -> HTMLResponse:
    """/docs: Swagger UI, its files at `assets_url`, with Inkwell's sign-in dialog."""
    parameters = {**swagger_ui_default_parameters, **(app.swagger_ui_parameters or {})}
    return HTMLResponse(_swagger_ui_page(app, _root(request), parameters, assets_url))


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _swagger_ui_page(app: FastAPI, root: str, parameters: dict[str, Any], assets_url: str) -> str:
    config = _script_safe({"url": root + str(app.openapi_url), **parameters})
    return f"""<!DOCTYPE html>
<html>
<head>
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="{root}{assets_url}/swagger-ui.css">
<link rel="shortcut icon" href="{root}{assets_url}/favicon.png">
<title>{html.escape(app.title)} - Swagger UI</title>
<style>
/* The Authorize dialog's words on OAuth2 scopes: Inkwell has none to grant. */
.scope-def {{ display: none; }}
</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{root}{assets_url}/swagger-ui-bundle.js"></script>
<script src="{root}{SIGN_IN_SCRIPT_URL}"></script>
<script>
// The presets and plugins are functions, which JSON cannot carry.
const ui = SwaggerUIBundle(Object.assign({config}, {{
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  plugins: [InkwellSignIn],
}}))
</script>
</body>
</html>
"""


def _script_safe(value: dict[str, Any]) -> str:
    """JSON that cannot end the script it is written into."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
