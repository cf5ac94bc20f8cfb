"""Issue 15, items 4 and 5 in the browser: the Model page shows fp32 and int8 side by side
and offers the export bundle; the Deploy page deploys the int8 copy and switches back to
fp32, and the answers say which one served them."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_first_hour_model import PASSWORD, TRAINING_TIMEOUT_S, log_in
from tests.conftest import HYMENOPTERA
from tests.e2e.helpers import create_project, train, upload_images

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

# Quantizing, calibrating and timing take tens of seconds on 2 busy cores.
INT8_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def trained(live_platform):
    """One quick version trained on 10 photos per label, tested on (at least) 4 per label."""
    username = f"int8-{uuid.uuid4().hex[:6]}"
    client = live_platform.signup(username, PASSWORD)
    with client:
        project = create_project(client, "Ants or bees", labels=["ants", "bees"])
        for label in ("ants", "bees"):
            train_photos = sorted((HYMENOPTERA / "train" / label).glob("*.jpg"))[:10]
            test_photos = sorted((HYMENOPTERA / "val" / label).glob("*.jpg"))[:4]
            upload_images(client, project["id"], train_photos, label=label)
            upload_images(client, project["id"], test_photos, label=label, split="test")
        job = train(client, project["id"], timeout=TRAINING_TIMEOUT_S)
        assert job["status"] == "succeeded", job
    return {"username": username, "project": project, "version": job["model_version"]}


def test_the_model_page_compares_fp32_and_int8_and_offers_the_bundle(page: Page, shot, trained):
    project_id, version = trained["project"]["id"], trained["version"]
    log_in(page, trained["username"], f"/projects/{project_id}/model?version={version}")
    # The int8 copy is made by its own job after training; the page looks again until then.
    card = page.get_by_test_id("compression")
    expect(card).to_be_visible(timeout=INT8_TIMEOUT_MS)
    # The same test images as the version's own accuracy.
    tested = page.request.get(f"/api/v1/models/{version}/").json()["metrics"]["count"]
    expect(card.get_by_test_id("compression-images")).to_contain_text(
        f"on {tested} held-out images"
    )
    for row in ("accuracy", "size_bytes", "latency_ms", "throughput_per_s"):
        expect(card.get_by_test_id(f"compression-{row}").get_by_test_id("int8")).not_to_have_text(
            "—"
        )
        expect(card.get_by_test_id(f"compression-{row}").get_by_test_id("fp32")).not_to_have_text(
            "—"
        )
    expect(card.get_by_test_id("compression-size_bytes")).to_contain_text("smaller")
    bundle = page.get_by_test_id("download-bundle")
    expect(bundle).to_have_attribute("href", re.compile(rf"/api/v1/models/{version}/export/$"))
    with page.expect_download() as download:
        bundle.click()
    assert download.value.suggested_filename.endswith("-bundle.zip")
    shot("01-model-fp32-int8")


def test_a_deployment_serves_int8_then_fp32(page: Page, shot, trained, hymenoptera_sample):
    project_id = trained["project"]["id"]
    log_in(page, trained["username"], f"/projects/{project_id}/deploy")
    summary = page.get_by_test_id("deploy-precision-summary")
    expect(summary).to_be_visible(timeout=INT8_TIMEOUT_MS)
    page.get_by_test_id("deploy-precision").get_by_text("int8", exact=True).click()
    expect(summary).to_contain_text("accuracy")
    page.get_by_test_id("deploy-button").click()
    expect(page.get_by_test_id("deployment-version")).to_contain_text("int8")

    bee = hymenoptera_sample["val/bees"][0]
    with page.expect_response(re.compile(r"/try/$")) as answer:
        page.get_by_test_id("try-input").set_input_files(str(bee))
    assert answer.value.json()["precision"] == "int8"
    shot("02-deployed-int8")

    page.get_by_test_id("switch-precision").get_by_text("fp32", exact=True).click()
    expect(page.get_by_text("Precision changed")).to_be_visible()
    expect(page.get_by_test_id("deployment-version")).not_to_contain_text("int8")
    with page.expect_response(re.compile(r"/try/$")) as answer:
        page.get_by_test_id("try-input").set_input_files(str(bee))
    assert answer.value.json()["precision"] == "fp32"
    shot("03-switched-to-fp32")
