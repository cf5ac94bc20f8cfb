"""Issue 17, items 5 and 7 in a real browser: a project's webhooks on its Settings page (a
private address refused with a sentence, the secret shown once, a test event retried until
the receiver takes it, each try's answer in the log), and the System page for staff.

A platform of its own: its workers may post to the receiver on 127.0.0.1 only because
BAKEHOUSE_URL_ALLOWLIST says so, and retries wait half a second instead of ten."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import start_live_platform
from tests.webhooks.conftest import receiver_running
from tests.webhooks.test_services import verify

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "a-long-enough-pass-42"


@pytest.fixture(scope="module")
def live_platform(tmp_path_factory):
    live, stop = start_live_platform(
        tmp_path_factory.mktemp("webhooks-platform") / "var",
        extra_env={
            "BAKEHOUSE_URL_ALLOWLIST": "127.0.0.1",
            "BAKEHOUSE_WEBHOOK_BACKOFF_SECONDS": "0.5",
        },
    )
    try:
        yield live
    finally:
        stop()


def _make_staff(live, username: str) -> None:
    code = (
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.filter(username={username!r}).update(is_staff=True)"
    )
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), "shell", "-c", code],
        env=live.platform.child_env(),
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )


def test_webhooks_on_the_settings_page_and_the_system_page(
    page: Page, shot, live_platform, browser_checks
):
    live = live_platform
    username = f"hooks-{uuid.uuid4().hex[:6]}"
    with live.signup(username, PASSWORD) as client:
        project = client.post("/api/v1/projects/", json={"name": "Hooked"}).json()
    page.goto("/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-menu")).to_be_visible()

    page.goto(f"/projects/{project['id']}/settings")
    section = page.get_by_test_id("webhooks-section")
    expect(section).to_contain_text("No webhooks yet.")

    # A private address is refused with a sentence next to the field (the 400 is expected).
    browser_checks.allow(r"status of 400")
    page.get_by_test_id("webhook-add").click()
    page.get_by_test_id("webhook-url").fill("http://10.0.0.7/hook")
    page.get_by_test_id("webhook-save").click()
    expect(page.get_by_text(re.compile("BAKEHOUSE_URL_ALLOWLIST"))).to_be_visible()

    with receiver_running(fail_each_event=2) as receiver:
        page.get_by_test_id("webhook-url").fill(receiver.url)
        page.get_by_test_id("webhook-save").click()
        secret_box = page.get_by_test_id("webhook-secret")
        expect(secret_box).to_contain_text("whsec_")
        secret = secret_box.inner_text().strip()
        expect(page.get_by_test_id("webhook-secret-copy")).to_be_visible()
        shot("01-secret-once", full_page=False)
        page.get_by_role("button", name="I have copied it").click()
        expect(page.get_by_test_id("webhook-item-url")).to_have_text(receiver.url)
        assert secret not in page.content()

        # A test event: 500, 500, then 200, each try's answer in the log.
        page.get_by_test_id("webhook-test").click()
        codes = page.get_by_test_id("webhook-try-code")
        expect(codes).to_have_text(["500", "500", "200"], timeout=30_000)
        expect(page.get_by_test_id("webhook-delivery")).to_contain_text("succeeded")
        shot("02-delivery-log")
        assert [r.answered for r in receiver.received] == [500, 500, 200]
        assert len({r.json["id"] for r in receiver.received}) == 1
        assert all(verify(r, secret) for r in receiver.received)

    # The retraining policy on the same page: saved and summarised in a sentence; "Retrain
    # now" says in words why nothing can train yet (the 409 is expected).
    retraining = page.get_by_test_id("retraining-section")
    retraining.get_by_test_id("retrain-enabled").check()
    retraining.get_by_test_id("retrain-new-labels").fill("25")
    retraining.get_by_test_id("retrain-save").click()
    expect(retraining.get_by_test_id("retrain-summary")).to_have_text(
        re.compile(r"^Retrains after 25 new labels; the new model runs in shadow")
    )
    browser_checks.allow(r"status of 409")
    retraining.get_by_test_id("retrain-now").click()
    expect(retraining.get_by_test_id("retrain-error")).to_contain_text(
        "Not retrained: Training needs at least 2 labels"
    )
    page.reload()  # both were stored
    expect(retraining.get_by_test_id("retrain-summary")).to_contain_text("after 25 new labels")
    expect(retraining.get_by_test_id("retrain-outcome")).to_contain_text("Not retrained:")

    # The System page: for staff only, linked from the account menu.
    page.get_by_test_id("user-menu").click()
    expect(page.get_by_test_id("nav-system")).to_have_count(0)
    page.keyboard.press("Escape")
    _make_staff(live, username)
    page.reload()
    page.get_by_test_id("user-menu").click()
    page.get_by_test_id("nav-system").click()
    page.wait_for_url(re.compile(r"/system$"))
    expect(page.get_by_test_id("system-status")).to_have_text("ok")
    queues = page.get_by_test_id("system-queue")
    expect(queues).to_have_count(3)
    expect(queues.filter(has_text="webhooks")).to_contain_text("yes")
    expect(page.get_by_test_id("system-workers")).to_contain_text("webhooks@")
    shot("03-system")
