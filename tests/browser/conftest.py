"""Browser fixtures: the session app on a live local server, and Debian's headless Chromium.

No browser is ever downloaded: Playwright drives the Chromium the system provides
(`/usr/bin/chromium`, or CHROMIUM_PATH). The machine has no network, so the flags below
also stop Chromium from calling home.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from werkzeug.serving import make_server

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Fail in seconds, not after Playwright's default 30 s: every page here is local.
TIMEOUT_MS = 10_000


def _closing(app: Flask) -> Callable[[dict[str, Any], Any], Iterator[bytes]]:
    """The app with its response body always closed once sent or dropped.

    Werkzeug's dev server closes the body after draining the socket; when Chromium drops
    a connection mid-file that drain raises first, the static file stays open and
    `filterwarnings = error` fails an unrelated test on the ResourceWarning.
    """

    def wsgi(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        body = app(environ, start_response)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    return wsgi


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The session app served on 127.0.0.1 on a free port; yields its base URL."""
    server = make_server("127.0.0.1", 0, _closing(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM_PATH).exists():
        pytest.fail(f"no Chromium at {CHROMIUM_PATH} (apt-get install chromium, or CHROMIUM_PATH)")
    browser = playwright_driver.chromium.launch(
        executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def browser_context(browser: Browser, live_server: str) -> Iterator[BrowserContext]:
    """A fresh profile per test (no cookies carried over), as a French visitor."""
    context = browser.new_context(
        base_url=live_server,
        locale="fr-FR",
        timezone_id="Europe/Paris",
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Iterator[Page]:
    """A tab that fails the test on any uncaught JavaScript error or console error.

    Chromium logs "Failed to load resource" for every 4xx answer, including the 422 of a
    form shown again with its errors: those are expected and left out.
    """
    page = browser_context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    try:
        yield page
    finally:
        page.close()
    assert not problems, "\n".join(problems)


@pytest.fixture
def other_site(live_server: str) -> Iterator[tuple[str, list[str]]]:
    """A server on localhost whose page is set by the test; yields its URL and the page."""
    page_html: list[str] = [""]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page_html[0].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}/", page_html
    finally:
        server.shutdown()
        server.server_close()
