"""Real-browser fixtures: Debian's Chromium driven by Python playwright against the live
platform (web + Celery workers + beat + embedded Redis, started by the same `Platform`
class `make up` uses; see tests/e2e/conftest.py).

Every test gets a fresh browser context (its own cookies) and a `shot(name)` helper that
keeps a full-page screenshot under test-artifacts/screenshots/, so a run leaves a picture
of every page it visited.

The `page` fixture holds every test to what an offline install needs: a request to any
origin other than the platform's is aborted and fails the test (nothing may come from a CDN
or call home), and so does any console error or uncaught page error (a red line in the
console is a bug even when the page still looks right). `ALLOWED_CONSOLE_ERRORS` is the
narrow list of console errors a test may expect; a test that provokes one on purpose says
so with `browser_checks.allow(pattern)` (see `BrowserChecks`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Headless and quiet: no GPU, no sandbox (containers, root), no calls home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}
# Generous for a first page load on 2 busy cores; element waits are explicit in the tests.
DEFAULT_TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def built_frontend() -> Path:
    index = REPO_ROOT / "frontend" / "dist" / "index.html"
    if not index.exists():
        pytest.fail(
            f"The browser app is not built ({index} is missing). "
            "Run `make frontend` (or `cd frontend && npm ci && npm run build`) first; "
            "`make test` builds it for you."
        )
    return index


@pytest.fixture(scope="session")
def chromium_browser(built_frontend):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run `make chromium` (apt-get install chromium)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Console errors no test may cause by accident but that are unavoidable where they occur:
# none today. Add a regular expression here only with the reason next to it.
ALLOWED_CONSOLE_ERRORS: tuple[str, ...] = ()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class BrowserChecks:
    """What the `page` fixture watched: requests to other origins and console errors."""

    origin: str
    # On S3 (the full stack) pictures are signed URLs on the bucket's own origin.
    media_origin: str = ""
    foreign_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=lambda: list(ALLOWED_CONSOLE_ERRORS))

    def allow(self, pattern: str) -> None:
        """A test that provokes a console error on purpose (e.g. a refused request) names it."""
        self.allowed.append(pattern)

    def on_route(self, route) -> None:
        url = route.request.url
        # data: and blob: URLs never leave the browser (previews of chosen files).
        if url.startswith(("data:", "blob:")) or _origin(url) in (self.origin, self.media_origin):
            route.continue_()
        else:
            self.foreign_requests.append(url)
            route.abort("blockedbyclient")

    def on_console(self, message) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            self.console_errors.append(f"{message.text} ({where})")

    def problems(self) -> list[str]:
        out = [f"request to another origin: {url}" for url in self.foreign_requests]
        out += [f"page error: {error}" for error in self.page_errors]
        out += [
            f"console error: {text}"
            for text in self.console_errors
            if not any(re.search(pattern, text) for pattern in self.allowed)
        ]
        return out


@pytest.fixture
def browser_checks(live_platform) -> BrowserChecks:
    endpoint = os.environ.get("AWS_S3_ENDPOINT_URL", "")
    media_origin = (
        _origin(endpoint) if endpoint and os.environ.get("AWS_STORAGE_BUCKET_NAME") else ""
    )
    return BrowserChecks(origin=_origin(live_platform.url), media_origin=media_origin)


@pytest.fixture
def page(chromium_browser, live_platform, browser_checks):
    context = chromium_browser.new_context(base_url=live_platform.url, viewport=VIEWPORT)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    context.route("**/*", browser_checks.on_route)
    page = context.new_page()
    page.on("pageerror", lambda error: browser_checks.page_errors.append(str(error)))
    page.on("console", browser_checks.on_console)
    try:
        yield page
    finally:
        context.close()
    problems = browser_checks.problems()
    assert not problems, "the browser saw:\n" + "\n".join(problems)


@pytest.fixture
def shot(page, request) -> Callable[[str], Path]:
    """`shot("03-dataset")` keeps a full-page screenshot of the current page; with
    `full_page=False` only the window (for modals, whose overlay covers just the window)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    for stale in SCREENSHOTS.glob(f"{prefix}--*.png"):
        stale.unlink()  # pictures of an earlier run must not pass for this one's

    def take(name: str, *, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{prefix}--{name}.png"
        if full_page:
            # From the top: a full-page picture of a scrolled page draws the sticky header
            # in the middle.
            page.evaluate("window.scrollTo(0, 0)")
        # Transitions (modals, notifications) are finished, not caught halfway.
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path

    return take


@pytest.fixture
def hymenoptera_sample(hymenoptera) -> dict[str, list[Path]]:
    """10 ants + 10 bees from train/, 4 + 4 from val/ (sorted, so every run uses the same)."""
    out: dict[str, list[Path]] = {}
    for split, count in (("train", 10), ("val", 4)):
        for label in ("ants", "bees"):
            out[f"{split}/{label}"] = sorted((hymenoptera / split / label).glob("*.jpg"))[:count]
    return out
