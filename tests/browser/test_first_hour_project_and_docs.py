"""Issue 13, the first minutes: the new project's Labels field takes `ants, bees` typed or
pasted as two labels, and the API docs (Swagger UI and ReDoc) render from the platform's
own files, offline and under the Content-Security-Policy."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "a-long-enough-pass-42"

# Runs before the page's scripts: keeps each CSP violation the browser reports.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


def log_in(page: Page, live_platform) -> str:
    username = f"first-hour-{uuid.uuid4().hex[:6]}"
    live_platform.signup(username, PASSWORD).close()
    page.goto("/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-menu")).to_contain_text(username)
    return username


def label_pills(page: Page) -> list[str]:
    return page.locator('[data-testid="new-project-form"] .mantine-Pill-label').all_inner_texts()


def test_labels_typed_or_pasted_as_the_placeholder_shows(page: Page, shot, live_platform):
    log_in(page, live_platform)
    page.get_by_test_id("new-project").click()
    expect(page.get_by_test_id("new-project-form")).to_be_visible()
    labels = page.get_by_test_id("project-labels")

    # Typed, as the placeholder suggests (the old field made "a", "s", "bees" of it).
    labels.press_sequentially("ants, bees")
    labels.press("Enter")
    expect(page.locator('[data-testid="new-project-form"] .mantine-Pill-label')).to_have_count(2)
    assert label_pills(page) == ["ants", "bees"]
    shot("01-labels-typed", full_page=False)

    # Cleared, then pasted.
    for _ in range(2):
        labels.press("Backspace")
    expect(page.locator('[data-testid="new-project-form"] .mantine-Pill-label')).to_have_count(0)
    labels.evaluate(
        """(input) => {
          const data = new DataTransfer();
          data.setData("text/plain", "ants, bees");
          input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true }));
        }"""
    )
    expect(page.locator('[data-testid="new-project-form"] .mantine-Pill-label')).to_have_count(2)
    assert label_pills(page) == ["ants", "bees"]
    shot("02-labels-pasted", full_page=False)

    page.get_by_test_id("project-name").fill("Ants or bees")
    page.get_by_test_id("create-project").click()
    page.wait_for_url(re.compile(r"/projects/\d+/dataset"))
    project_id = int(re.search(r"/projects/(\d+)/", page.url).group(1))
    project = page.request.get(f"/api/v1/projects/{project_id}/").json()
    assert sorted(label["name"] for label in project["labels"]) == ["ants", "bees"]


@pytest.mark.parametrize(
    ("path", "operation"),
    [("/api/docs/", ".opblock"), ("/api/redoc/", '[data-section-id^="operation/"]')],
)
def test_api_docs_render_offline_under_the_csp(page: Page, shot, path, operation):
    # The page fixture aborts (and fails on) any request to another origin: a CDN included.
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto(path)
    assert response.status == 200
    assert "script-src 'self'" in response.headers.get("content-security-policy", "")
    expect(page.locator(operation).first).to_be_visible(timeout=30_000)
    assert page.locator(operation).count() > 5
    shot("docs-" + path.strip("/").replace("/", "-"))
    assert page.evaluate("() => window.__cspViolations") == []
