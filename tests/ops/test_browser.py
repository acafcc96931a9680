"""The docs in a real browser: headless Chromium (Debian's package) driven by Playwright, no download.

Against a real `inkwell serve` on a fresh SQLite database: /docs creates a user with "Try it out" and
shows the 201, then /redoc renders; the Content-Security-Policy must block nothing either page needs.
The documentation site, opened from the disk as someone who downloaded it would: its search finds a page,
and no request leaves the disk.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

from tests.commands import run_here
from tests.docs_site import site
from tests.processes import serving

__all__ = ["site"]  # the fixture that builds the documentation site

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium` to run the browser test"


@pytest.fixture(scope="module")
def chromium() -> str:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(MISSING)  # CI installs it (.ci/run): its absence there is a failure
        pytest.skip(MISSING)
    return CHROMIUM


def serve_docs(tmp_path: Path, *, auth: str) -> Iterator[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/browser.db",
        "INKWELL_AUTH": auth,
        "INKWELL_LOG_FORMAT": "json",
    }
    assert run_here(env, "db", "upgrade").returncode == 0
    with serving(env, tmp_path) as server:
        yield server.url
    assert server.process.returncode == 0, server.stderr


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    yield from serve_docs(tmp_path, auth="off")


@pytest.fixture
def secure_server_url(tmp_path: Path) -> Iterator[str]:
    yield from serve_docs(tmp_path, auth="on")


def test_docs_create_a_user_with_try_it_out_and_redoc_renders(chromium: str, server_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))

        page.goto(f"{server_url}/docs")
        operation = try_it_out(
            page,
            "users-create_user",
            '{"email": "Browser@Example.com", "name": "From the browser"}',
        )
        expect(response_status(operation)).to_have_text("201", timeout=15_000)
        expect(response_body(operation)).to_contain_text("browser@example.com")

        page.goto(f"{server_url}/redoc")
        expect(page.locator("h1").first).to_contain_text("Inkwell", timeout=15_000)
        expect(page.get_by_role("heading", name="Create User")).to_be_visible()
        browser.close()

    # The policy may block what lives on another origin (ReDoc's footer logo): the docs make no outside
    # request by design. Anything else blocked or failing on the pages is a failure.
    assert [p for p in problems if not blocked_from_elsewhere(p, server_url)] == []
    users = httpx.get(f"{server_url}/users", timeout=10).json()
    assert [u["email"] for u in users] == ["browser@example.com"]


def test_docs_sign_up_then_authorize_and_call_as_the_new_user(chromium: str, secure_server_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{secure_server_url}/docs")

        sign_up = page.locator("#operations-users-create_user")
        sign_up.locator(".opblock-summary").click()
        sign_up.get_by_role("button", name="Try it out").click()
        sign_up.locator("textarea.body-param__text").fill(
            '{"email": "signed@example.com", "name": "Signed", "password": "a browser password"}'
        )
        sign_up.get_by_role("button", name="Execute").click()
        expect(
            sign_up.locator(".live-responses-table tr.response td.response-col_status").first
        ).to_have_text("201", timeout=15_000)

        # The Authorize button runs the OAuth2 password flow the OpenAPI document declares.
        page.locator(".auth-wrapper .authorize").click()
        page.locator("#oauth_username").fill("signed@example.com")
        page.locator("#oauth_password").fill("a browser password")
        page.locator(".auth-btn-wrapper .authorize").click()
        expect(page.locator(".auth-container")).to_contain_text("Authorized", timeout=15_000)
        page.locator(".auth-btn-wrapper .btn-done").click()

        me = try_it_out(page, "users-read_account")
        expect(response_status(me)).to_have_text("200", timeout=15_000)
        expect(response_body(me)).to_contain_text("signed@example.com")
        browser.close()


def test_the_site_searches_from_the_disk_and_asks_nothing_of_the_network(chromium: str, site: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("request", lambda request: requested.append(request.url))

        page.goto((site / "index.html").as_uri())
        search = page.locator("input.md-search__input")
        search.click()
        search.press_sequentially("idempotency", delay=20)  # the search runs on each key typed
        expect(page.locator(".md-search-result__meta")).to_contain_text("matching documents", timeout=15_000)
        found = [link.get_attribute("href") or "" for link in page.locator("a.md-search-result__link").all()]
        api = (site / "api.html").as_uri()
        page.locator(f"a.md-search-result__link[href^='{api}']").first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("The API")
        browser.close()

    assert any(href.startswith(f"{api}?h=idempotency") for href in found), found
    assert problems == []
    assert (site / "search" / "search_index.js").as_uri() in requested
    assert [url for url in requested if not url.startswith(("file://", "data:", "blob:", "about:"))] == []


def try_it_out(page: "Page", operation_id: str, body: str | None = None) -> "Locator":
    """Open an operation in Swagger UI, fill its body (if any) and execute it; the operation's element."""
    operation = page.locator(f"#operations-{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    if body is not None:
        operation.locator("textarea.body-param__text").fill(body)
    operation.get_by_role("button", name="Execute").click()
    return operation


def response_status(operation: "Locator") -> "Locator":
    return operation.locator(".live-responses-table tr.response td.response-col_status").first


def response_body(operation: "Locator") -> "Locator":
    return operation.locator(".live-responses-table .microlight").first


def blocked_from_elsewhere(message: str, server_url: str) -> bool:
    return "violates the following Content Security Policy" in message and (
        "'https://" in message and f"'{server_url}" not in message
    )
