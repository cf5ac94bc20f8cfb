"""The browser app runs under its Content-Security-Policy: log in, open a project with
photos, and not one resource, script or style is refused."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import create_project, upload_images

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "a-long-enough-pass-42"

# Runs in every document before the page's own scripts: keeps each violation the browser
# reports, with what was blocked and which directive blocked it.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(
    `${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`
  );
});
"""


def test_the_app_runs_under_its_content_security_policy(
    page: Page, shot, live_platform, hymenoptera_sample
):
    client = live_platform.signup("browser-csp")
    with client:
        project = create_project(client, "CSP", labels=["ants", "bees"])
        upload_images(client, project["id"], hymenoptera_sample["val/ants"], label="ants")

    console: list[str] = []
    page.on(
        "console",
        lambda message: (
            console.append(message.text)
            if "Content Security Policy" in message.text
            or "Content-Security-Policy" in message.text
            else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)

    response = page.goto(f"/projects/{project['id']}/dataset")
    policy = response.headers.get("content-security-policy", "")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_test_id("login-username").fill("browser-csp")
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(rf"/projects/{project['id']}/dataset"))

    thumbnails = page.get_by_test_id("thumbnail")
    expect(thumbnails).to_have_count(4, timeout=30_000)
    # The photos were drawn (an image refused by img-src has no natural size).
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=thumbnail] img')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    # Mantine's styles apply: its CSS variables come from an inline <style> tag.
    assert page.evaluate(
        "() => getComputedStyle(document.documentElement)"
        ".getPropertyValue('--mantine-color-blue-6').trim() !== ''"
    )
    shot("01-project-under-csp")

    violations = page.evaluate("() => window.__cspViolations")
    assert violations == [], violations
    assert console == [], console
