"""Every request body's example in the OpenAPI document works when sent as it is.

"Try it out" in /docs fills a body from the first example of each of its fields: each operation's body is
built the same way from the document the app serves, and sent to the app as it stands, in the mode it
documents. The example account signs up and signs in first with the document's own examples (as a newcomer
would, through the Authorize button) where the route needs a signed-in user; the path names that account and
a post it wrote with the post example. The two values no example can hold are filled in: a token from a
mail (caught by a real SMTP server) and a refresh token from the sign-in.
"""

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from inkwell import examples
from inkwell.config import Settings
from inkwell.db import Database
from inkwell.job_handlers import JOBS
from inkwell.jobs.context import JobContext
from inkwell.mail.sender import create_mailer
from inkwell.main import create_app
from tests.accounts import TEST_SECRET_KEY, bearer
from tests.auth.mail.test_email_flows import mailed_token
from tests.smtp import MailSink

SIGNED_IN = Settings(_env_file=None, secret_key=SecretStr(TEST_SECRET_KEY))
OPEN = Settings(_env_file=None, auth=False)
METHODS = ("post", "put", "patch", "delete")


def operations_with_bodies(settings: Settings) -> list[tuple[str, str, str]]:
    """(mode, method, path) of every operation with a request body, from the document the app serves."""
    document = create_app(settings).openapi()
    mode = "signed in" if settings.auth else "open"
    return [
        (mode, method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in METHODS and "requestBody" in operation
    ]


OPERATIONS = operations_with_bodies(SIGNED_IN) + operations_with_bodies(OPEN)


def example_body(document: dict[str, Any], path: str, method: str) -> tuple[str, dict[str, Any]]:
    """The media type and the body "Try it out" fills in: each field's first example."""
    [(media_type, content)] = document["paths"][path][method]["requestBody"]["content"].items()
    schema = resolved(document, content["schema"])
    body = {}
    for name, field in schema["properties"].items():
        branches = [field, *field.get("anyOf", [])]  # an optional field's examples are in its non-null branch
        found: list[Any] = next((branch["examples"] for branch in branches if "examples" in branch), [])
        # Without one, Swagger UI makes up a value (from the field's pattern, if any): gibberish.
        assert found, f"{method.upper()} {path}: the field {name} has no example"
        body[name] = found[0]
    return media_type, body


def resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return dict(document["components"]["schemas"][name])
    return schema


@pytest.fixture
def settings(settings: Settings, mail: MailSink) -> Settings:
    return settings.model_copy(update={"smtp_url": SecretStr(mail.url)})


@pytest.fixture
def ctx(settings: Settings, database: Database) -> JobContext:
    return JobContext(settings, database, create_mailer(settings), JOBS)


class Newcomer:
    """Someone trying the API from /docs: the example account, signed up and signed in with the examples."""

    def __init__(self, client: httpx.AsyncClient, document: dict[str, Any]) -> None:
        self.client = client
        self.document = document
        self.headers: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        self.refresh_token = ""

    async def send(self, method: str, path: str, *, signed_in: bool) -> httpx.Response:
        media_type, body = example_body(self.document, path, method)
        url = path.format(**self.ids)
        headers = self.headers if signed_in else {}
        if media_type == "application/x-www-form-urlencoded":
            return await self.client.request(method, url, data=body, headers=headers)
        return await self.client.request(method, url, json=await self.filled(body), headers=headers)

    async def filled(self, body: dict[str, Any]) -> dict[str, Any]:
        return {name: await self.real(value) for name, value in body.items()}

    async def real(self, value: Any) -> Any:
        if value == examples.REFRESH_TOKEN:
            return self.refresh_token
        return value

    async def start(self, *, signs_in: bool) -> None:
        signed_up = await self.send("post", "/users", signed_in=False)
        assert signed_up.status_code == 201, signed_up.text
        self.ids["user_id"] = signed_up.json()["id"]
        if signs_in:
            tokens = await self.send("post", "/auth/token", signed_in=False)
            assert tokens.status_code == 200, tokens.text
            self.headers = bearer(tokens.json()["access_token"])
            self.refresh_token = tokens.json()["refresh_token"]
        post = await self.send("post", "/users/{user_id}/posts", signed_in=True)
        assert post.status_code == 201, post.text
        self.ids["post_id"] = post.json()["id"]


class MailReader(Newcomer):
    """A newcomer who reads the mails the API sends (the tokens in them)."""

    def __init__(self, client: httpx.AsyncClient, document: dict[str, Any], ctx: JobContext, mail: MailSink):
        super().__init__(client, document)
        self.ctx, self.mail = ctx, mail
        self.mailed_for: str | None = None

    async def real(self, value: Any) -> Any:
        if value == examples.MAILED_TOKEN:
            return await self.mailed_token()
        return await super().real(value)

    async def mailed_token(self) -> str:
        """Ask for the mail of the route being tried, as its description says, and take its token."""
        asked = {
            "/auth/verify": ("post", "/auth/verify/request", None, examples.EMAIL),
            "/auth/reset-password": (
                "post",
                "/auth/forgot-password",
                {"email": examples.EMAIL},
                examples.EMAIL,
            ),
            "/auth/confirm-email": (
                "patch",
                f"/users/{self.ids['user_id']}",
                {"email": "ada.king@example.com", "current_password": examples.PASSWORD},
                "ada.king@example.com",
            ),
        }
        assert self.mailed_for in asked, self.mailed_for
        method, url, body, to = asked[self.mailed_for]
        response = await self.client.request(method, url, json=body, headers=self.headers)
        assert response.status_code in (200, 202), response.text
        return await mailed_token(self.ctx, self.mail, to=to)


@pytest.mark.parametrize(("mode", "method", "path"), OPERATIONS, ids=[" ".join(op) for op in OPERATIONS])
async def test_every_request_example_works_as_it_is(
    mode: str,
    method: str,
    path: str,
    client: httpx.AsyncClient,
    open_client: httpx.AsyncClient,
    ctx: JobContext,
    mail: MailSink,
) -> None:
    signed_in = mode == "signed in"
    used = client if signed_in else open_client
    document = (await used.get("/openapi.json")).json()
    newcomer = MailReader(used, document, ctx, mail)
    newcomer.mailed_for = path
    if path != "/users":
        await newcomer.start(signs_in=signed_in)
    operation = document["paths"][path][method]

    response = await newcomer.send(method, path, signed_in="security" in operation)

    assert 200 <= response.status_code < 300, (method.upper(), path, response.text)
