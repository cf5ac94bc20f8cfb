"""Real-browser fixtures: Debian's Chromium driven by Python playwright against the live
platform (web + Celery workers + beat + embedded Redis, started by the same `Platform`
class `make up` uses; see tests/e2e/conftest.py).

Every test gets a fresh browser context (its own cookies) and a `shot(name)` helper that
keeps a full-page screenshot under test-artifacts/screenshots/, so a run leaves a picture
of every page it visited.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

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


@pytest.fixture
def page(chromium_browser, live_platform):
    context = chromium_browser.new_context(base_url=live_platform.url, viewport=VIEWPORT)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    # A page script error is a bug even when the page still looks right.
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"


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
