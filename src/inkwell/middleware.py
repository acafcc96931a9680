"""Plain ASGI middleware (no BaseHTTPMiddleware: it costs a task and a copy per request)."""

import base64
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from time import perf_counter

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from inkwell.logs import request_logger
from inkwell.replicas import POSITION_HEADER, Positions, Written, format_position, noting_writes

TOO_LARGE = "Request body too large"


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_too_large(send)
            return
        await self.app(scope, self._counting(receive), send)

    def _counting(self, receive: Receive) -> Receive:
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read; FastAPI renders it as a 413 JSON response.
                    raise HTTPException(status_code=413, detail=TOO_LARGE)
            return message

        return counted_receive


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_too_large(send: Send) -> None:
    body = json.dumps({"detail": TOO_LARGE}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# A client's X-Request-ID is kept when it is short and made of characters safe in logs and headers.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_HEADER = b"x-request-id"
UNMATCHED_ROUTE = "<unmatched>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Observe = Callable[[str, str, int, float], None]


class RequestLog:
    """Give each request an id, answer it in `X-Request-ID`, and log one line (and metrics) when it ends.

    The line names the route template (`/users/{user_id}`), never the path, so no id or address that a
    client put in the URL reaches the log.
    """

    def __init__(self, app: ASGIApp, *, observe: Observe | None, templates: Mapping[object, str]) -> None:
        self.app = app
        # Built with the app's middleware, at its first request: the logging configured by then.
        self.logger = request_logger()
        self.observe = observe
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _client_request_id(scope) or uuid.uuid4().hex
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500  # what the client gets when the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        # Logs written while the request runs (warnings, tracebacks) carry its id too. On failure the
        # binding is left for the server's traceback; each request runs in a task of its own.
        tokens = bind_contextvars(request_id=request_id)
        start = perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, perf_counter() - start, request_id)
        reset_contextvars(**tokens)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "OTHER"
        route = self._route_template(scope)
        self.logger.info(
            "request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            request_id=request_id,
        )
        if self.observe is not None:
            self.observe(method, route, status, seconds)

    def _route_template(self, scope: Scope) -> str:
        """The path template of the route that took the request (`/users/{user_id}`)."""
        # FastAPI's routes say it themselves; `path_format` is the path without convertors (`:user_id`).
        path = getattr(scope.get("route"), "path_format", None)
        if isinstance(path, str):
            return path
        return self.templates.get(scope.get("endpoint"), UNMATCHED_ROUTE)


def _client_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            return text if REQUEST_ID.fullmatch(text) else None
    return None


def endpoint_templates(routes: Iterable[BaseRoute]) -> dict[object, str]:
    """Path templates of the plain Starlette routes and mounts, which do not name themselves in the scope."""
    templates: dict[object, str] = {}
    for route in routes:
        if isinstance(route, Mount):
            templates[route.app] = route.path + "/{path}"
        elif isinstance(route, Route):
            templates[route.endpoint] = route.path_format
    return templates


# API responses are JSON and never framed: nothing may load, run or embed.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# The documentation pages run Inkwell's own Swagger UI and ReDoc: scripts from Inkwell and the page's
# inline script (by hash), styles that both inject at run time, ReDoc's blob: worker, and calls back here.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


class SecurityHeaders:
    """Security headers on every response; HTML pages get a policy that allows their own inline script."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if _is_html(headers):
                    start = message  # held back until the body is known, to hash its inline scripts
                    return
                message["headers"] = [
                    *headers,
                    *SECURITY_HEADERS,
                    (b"content-security-policy", API_POLICY_BYTES),
                ]
            elif start is not None and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                page = b"".join(body)
                start["headers"] = [
                    *start["headers"],
                    *SECURITY_HEADERS,
                    (b"content-security-policy", page_policy(page)),
                ]
                await send(start)
                message = {"type": "http.response.body", "body": page}
            await send(message)

        await self.app(scope, receive, send_with_headers)


API_POLICY_BYTES = API_POLICY.encode()


def page_policy(page: bytes) -> bytes:
    """The page's Content-Security-Policy, allowing exactly the inline scripts it carries."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(page)
    )
    return PAGE_POLICY.format(hashes=hashes).encode()


def _is_html(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name == b"content-type" and value.startswith(b"text/html") for name, value in headers)


PositionsOf = Callable[[], "Positions | None"]
"""The app's memory of its users' last writes, None before start-up or without replicas."""
POSITION_HEADER_NAME = POSITION_HEADER.lower().encode("ascii")


class ReadYourWrites:
    """Answer each write's position (`Inkwell-Position`) and remember it as its user's last, so that
    their reads, sent anywhere, see it. Only where there are replicas: without them every read is on the
    primary, which has every write.

    Both happen before the response starts: a client that reads once it has the answer finds the
    position remembered, on any app instance.
    """

    def __init__(self, app: ASGIApp, *, positions_of: PositionsOf) -> None:
        self.app = app
        self.positions_of = positions_of
        self.logger = logging.getLogger(__name__)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with noting_writes() as written:

            async def send_with_position(message: Message) -> None:
                if message["type"] == "http.response.start" and written.position is not None:
                    await self._remember(written)
                    value = format_position(written.position).encode("ascii")
                    message["headers"] = [*message.get("headers", ()), (POSITION_HEADER_NAME, value)]
                await send(message)

            await self.app(scope, receive, send_with_position)

    async def _remember(self, written: Written) -> None:
        positions = self.positions_of()
        if positions is None or written.user_id is None or written.position is None:
            return
        try:
            await positions.remember(written.user_id, written.position)
        except Exception as exc:  # Redis failing: the header still carries the position
            self.logger.warning("could not remember a write's position (%s: %s)", type(exc).__name__, exc)
