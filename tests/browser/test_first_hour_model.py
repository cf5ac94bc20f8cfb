"""Issue 13, after the first training: every accuracy says how much backs it (test images,
95 % interval, "too few to tell", a target verdict on the interval's low end); fine-tuning
that kept the quick model says so; the Model page opens on the deployed version and its
chart shows the accuracy line; Try it stays fresh and the log beside it follows; "Only
uncertain" reads the deployment's current threshold and saving it is confirmed."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import Page, Route, expect

from tests.conftest import HYMENOPTERA
from tests.e2e.helpers import create_project, train, upload_images

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "a-long-enough-pass-42"
TRAINING_TIMEOUT_S = 150


@pytest.fixture(scope="module")
def trained(live_platform):
    """A project with two quick versions (v1 deployed, v2 newer) measured on 8 test images
    (made once: two trainings are the slow part)."""
    sample = {
        f"{split}/{label}": sorted((HYMENOPTERA / split / label).glob("*.jpg"))[:count]
        for split, count in (("train", 10), ("val", 4))
        for label in ("ants", "bees")
    }
    username = f"first-hour-{uuid.uuid4().hex[:6]}"
    client = live_platform.signup(username, PASSWORD)
    with client:
        project = create_project(client, "Ants or bees", labels=["ants", "bees"])
        for label in ("ants", "bees"):
            upload_images(client, project["id"], sample[f"train/{label}"], label=label)
            upload_images(client, project["id"], sample[f"val/{label}"], label=label, split="test")
        first = train(client, project["id"], timeout=TRAINING_TIMEOUT_S)
        assert first["status"] == "succeeded", first
        deployment = client.post(
            f"/api/v1/projects/{project['id']}/deployments/",
            json={"model_version": first["model_version"]},
        )
        assert deployment.status_code == 201, deployment.text
        second = train(client, project["id"], timeout=TRAINING_TIMEOUT_S)
        assert second["status"] == "succeeded", second
    return {
        "username": username,
        "project": project,
        "v1": first["model_version"],
        "v2": second["model_version"],
        "job": second["id"],
        "slug": deployment.json()["slug"],
    }


def log_in(page: Page, username: str, to: str) -> None:
    page.goto(to)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(re.escape(to.split("?")[0])))


def as_kept_probe(route: Route) -> None:
    """The same answer, as a fine-tune run that kept the quick model would give it (a real
    fine-tune run takes minutes on a CPU; the runner's outcome is tested in tests/training)."""
    response = route.fetch()
    body = response.json()
    metrics = body["metrics"]
    metrics.update(kept_probe=True, outcome="kept_probe", best_epoch=0, seconds=248.0)
    body["mode"] = "finetune"
    route.fulfill(response=response, body=json.dumps(body))


def test_scores_say_how_much_backs_them(page: Page, shot, live_platform, trained):
    project_id = trained["project"]["id"]
    log_in(page, trained["username"], f"/projects/{project_id}/model")

    # Opens on the DEPLOYED version (v1), not the newest (v2).
    expect(page.get_by_test_id("model-version-row")).to_have_count(2)
    expect(page.get_by_role("heading", name="Model v1")).to_be_visible()
    # 8 test images and the few the automatic split adds: far wider than 10 points.
    count = page.request.get(f"/api/v1/models/{trained['v1']}/").json()["metrics"]["count"]
    assert 8 <= count < 20
    interval = page.get_by_test_id("model-accuracy-interval")
    expect(interval).to_have_attribute("data-images", str(count))
    expect(interval).to_contain_text("95% interval")
    expect(interval).to_contain_text(f"{count} test images")
    expect(page.get_by_test_id("too-few-test-images")).to_contain_text(
        "Too few test images to tell reliably"
    )
    # Whatever the score, so few images cannot show it clears a 90 % target for sure.
    verdict = page.get_by_test_id("model-verdict")
    assert verdict.get_attribute("data-verdict") in ("may_meet", "below")
    expect(verdict).not_to_contain_text("Meets the target")
    expect(page.get_by_test_id("version-accuracy")).to_have_count(2)
    expect(page.get_by_test_id("version-accuracy").first).to_contain_text(f"{count} img")
    # The versions chart draws accuracy last (on top), F1 dashed under it; both in the legend.
    chart = page.get_by_test_id("model-versions")
    expect(chart).to_have_attribute("data-chart-series", "macro_f1,accuracy")
    expect(chart.locator(".recharts-legend-wrapper")).to_contain_text("Accuracy")
    expect(chart.locator(".recharts-legend-wrapper")).to_contain_text("Macro F1")
    assert chart.locator(".recharts-line path[stroke-dasharray='6 4']").count() == 1
    shot("01-model-opens-on-deployed")

    # Fine-tuning that kept the quick model says so plainly, with the time it spent.
    page.route(re.compile(rf"/api/v1/models/{trained['v2']}/$"), as_kept_probe)
    page.get_by_test_id("model-version-row").filter(has_text="v2").first.click()
    expect(page.get_by_role("heading", name="Model v2")).to_be_visible()
    kept = page.get_by_test_id("kept-probe")
    expect(kept).to_contain_text(
        "Kept the model fine-tuning started from: adjusting the network did not beat it on validation"
    )
    expect(kept).to_contain_text("4 min 8 s")
    shot("02-model-kept-probe")

    page.goto(f"/projects/{project_id}/train?job={trained['job']}")
    expect(page.get_by_test_id("training-succeeded")).to_be_visible()
    expect(page.get_by_test_id("kept-probe")).to_contain_text(
        "Kept the model fine-tuning started from"
    )
    expect(page.get_by_test_id("training-accuracy-interval")).to_contain_text("test images")
    expect(page.get_by_test_id("too-few-test-images")).to_be_visible()
    shot("03-train-kept-probe")


def test_try_it_stays_fresh_and_the_log_reads_the_current_threshold(
    page: Page, shot, live_platform, trained, hymenoptera_sample
):
    project_id, slug = trained["project"]["id"], trained["slug"]
    log_in(page, trained["username"], f"/projects/{project_id}/deploy")
    expect(page.get_by_test_id("deployment")).to_be_visible()
    expect(page.get_by_test_id("prediction-log")).to_contain_text("No predictions yet")

    bee = hymenoptera_sample["val/bees"][0]
    page.get_by_test_id("try-input").set_input_files(str(bee))
    expect(page.get_by_test_id("try-result")).to_contain_text("by model v1", timeout=30_000)
    # The input is emptied: choosing the same file again is a change, and is sent again.
    assert page.get_by_test_id("try-input").input_value() == ""
    # The log beside it follows at once (not at its next 15 s poll).
    expect(page.get_by_test_id("prediction-row")).to_have_count(1, timeout=8_000)
    page.get_by_test_id("try-input").set_input_files(str(bee))
    expect(page.get_by_test_id("prediction-row")).to_have_count(2, timeout=8_000)
    shot("01-try-it-and-log")

    # After a switch the old "by model v1" answer is gone.
    page.get_by_test_id("switch-version-select").click()
    page.get_by_role("option", name=re.compile(r"^v2")).click()
    page.get_by_test_id("switch-version").click()
    expect(page.get_by_test_id("deployment-version")).to_contain_text("v2")
    expect(page.get_by_test_id("try-result")).not_to_contain_text("by model v1")
    shot("02-try-it-after-switch")

    # "Only uncertain" with the threshold at 0: nothing; raised to 100 % in the page: the
    # answers logged before now count as uncertain, and the save is confirmed.
    page.request.patch(
        f"/api/v1/deployments/{slug}/",
        data={"threshold": 0.0},
        headers={"X-CSRFToken": _csrf(page)},
    )
    page.goto(f"/projects/{project_id}/deploy?log=uncertain")
    expect(page.get_by_test_id("prediction-row")).to_have_count(0)
    slider = page.locator('[role="slider"]').first
    slider.focus()
    page.keyboard.press("End")
    expect(page.get_by_text("Threshold saved")).to_be_visible()
    expect(page.get_by_test_id("prediction-row")).to_have_count(2, timeout=10_000)
    for row in page.get_by_test_id("prediction-row").all():
        expect(row).to_have_attribute("data-uncertain", "true")
    shot("03-only-uncertain-after-threshold")


def _csrf(page: Page) -> str:
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return cookies.get("csrftoken", "")
