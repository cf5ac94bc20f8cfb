"""What a user sees when something is wrong: words, not stack traces or silence."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_wrong_password_and_rejected_upload_are_explained(
    page: Page, shot, live_platform, hymenoptera, tmp_path, browser_checks
):
    # The wrong password is refused on purpose: the browser logs that answer as an error.
    browser_checks.allow(r"status of 40[01] .*/api/v1/auth/login/\)$")
    client = live_platform.signup("browser-errors")
    with client:
        project = client.post(
            "/api/v1/projects/", json={"name": "Errors", "labels": ["ants", "bees"]}
        ).json()

    # A wrong password: a sentence in the form, and the user stays on the log-in page.
    page.goto(f"/projects/{project['id']}/dataset")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_test_id("login-username").fill("browser-errors")
    page.get_by_test_id("login-password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    error = page.get_by_test_id("login-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(re.compile(r"password", re.I))
    assert "{" not in error.inner_text()  # a sentence, not a JSON body
    shot("01-login-wrong-password")

    # The right one goes on to where the user was going.
    page.get_by_test_id("login-password").fill("a-long-enough-pass-42")
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(rf"/projects/{project['id']}/dataset"))

    # A text file named .jpg is refused with its reason; the good photo next to it is added.
    fake = tmp_path / "holiday.jpg"
    fake.write_text("these are not the pixels you are looking for\n")
    good = sorted((hymenoptera / "val" / "ants").glob("*.jpg"))[0]
    page.get_by_test_id("upload-input").set_input_files([str(fake), str(good)])
    rejected = page.locator('[data-testid="upload-file"][data-status="rejected"]')
    expect(rejected).to_have_count(1, timeout=30_000)
    expect(rejected).to_contain_text("holiday.jpg")
    reason = rejected.inner_text().split("holiday.jpg", 1)[1].strip()
    assert len(reason) > 10 and "{" not in reason, reason
    expect(page.locator('[data-testid="upload-file"][data-status="created"]')).to_have_count(1)
    expect(page.get_by_test_id("upload-rejected")).to_be_visible()
    expect(page.get_by_test_id("upload-rejected-count")).to_contain_text("1 rejected")
    expect(page.get_by_test_id("thumbnail")).to_have_count(1)
    shot("02-upload-rejected")
