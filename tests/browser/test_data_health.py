"""Issue 14 in the browser: after training, the Data health page shows the cross-validated
accuracy with its interval and a fix queue; a flipped label in real hymenoptera photos is
flagged with the right suggestion, accepting it relabels the image (recorded as the
suggestion's), Undo puts the old label back and the item back in the queue, and accepting
again sticks. A resized, re-encoded copy of a training photo put in the test split shows
up as a leaking near-duplicate."""

from __future__ import annotations

import io
import re
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.conftest import HYMENOPTERA
from tests.e2e.helpers import create_project, train, upload_images, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "a-long-enough-pass-42"
TRAINING_TIMEOUT_S = 150
HEALTH_TIMEOUT_S = 120


def _resized_copy(source: Path, target: Path) -> Path:
    """The same photo at 85 % of its size, re-encoded: another file, the same picture."""
    with Image.open(source) as image:
        small = image.convert("RGB").resize((int(image.width * 0.85), int(image.height * 0.85)))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=80)
    target.write_bytes(buffer.getvalue())
    return target


@pytest.fixture(scope="module")
def seeded(live_platform, tmp_path_factory):
    """25 ants + 25 bees for training, 4 + 4 for testing, one ant labelled "bees", and a copy
    of a training bee in the test split; trained once, with its health report ready."""
    ants = sorted((HYMENOPTERA / "train" / "ants").glob("*.jpg"))
    bees = sorted((HYMENOPTERA / "train" / "bees").glob("*.jpg"))
    test = {
        label: sorted((HYMENOPTERA / "val" / label).glob("*.jpg"))[:4] for label in ("ants", "bees")
    }
    flipped = ants[25]
    copy = _resized_copy(bees[0], tmp_path_factory.mktemp("copies") / "copy-of-a-bee.jpg")

    username = f"health-{uuid.uuid4().hex[:6]}"
    client = live_platform.signup(username, PASSWORD)
    with client:
        project = create_project(client, "Ants or bees", labels=["ants", "bees"])
        pid = project["id"]
        upload_images(client, pid, ants[:25], label="ants", split="train")
        upload_images(client, pid, bees[:25], label="bees", split="train")
        for label, paths in test.items():
            upload_images(client, pid, paths, label=label, split="test")
        flipped_id = upload_images(client, pid, [flipped], label="bees", split="train")["created"][
            0
        ]["id"]
        copy_id = upload_images(client, pid, [copy], label="bees", split="test")["created"][0]["id"]
        job = train(client, pid, timeout=TRAINING_TIMEOUT_S)
        assert job["status"] == "succeeded", job
        report = wait_for(
            client,
            f"/api/v1/projects/{pid}/health/",
            lambda body: (
                body["status"] in ("ready", "failed")
                and body["model_version"] == job["model_version"]
            ),
            timeout=HEALTH_TIMEOUT_S,
            interval=1.0,
        )
    assert report["status"] == "ready", report
    return {
        "username": username,
        "project": project,
        "flipped": flipped_id,
        "copy": copy_id,
        "report": report,
    }


def _log_in(page: Page, username: str, to: str) -> None:
    page.goto(to)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(re.escape(to.split("?")[0])))


def _label(page: Page, project_id: int, image_id: int) -> str | None:
    return page.request.get(f"/api/v1/projects/{project_id}/images/{image_id}/").json()["label"]


def _wait_label(
    page: Page, project_id: int, image_id: int, label: str, timeout_s: float = 10
) -> None:
    deadline = time.monotonic() + timeout_s
    while (current := _label(page, project_id, image_id)) != label:
        assert time.monotonic() < deadline, f"image {image_id} is {current!r}, not {label!r}"
        page.wait_for_timeout(200)


def test_a_flipped_label_is_flagged_accepted_undone_and_accepted_again(
    page: Page, shot, live_platform, seeded
):
    pid, flipped = seeded["project"]["id"], seeded["flipped"]
    issues = {issue["image"]: issue for issue in seeded["report"]["label_issues"]}
    assert flipped in issues, seeded["report"]
    assert issues[flipped]["suggested"] == "ants"

    _log_in(page, seeded["username"], f"/projects/{pid}/dataset")
    page.get_by_test_id("tab-health").click()
    page.wait_for_url(re.compile(rf"/projects/{pid}/health"))
    expect(page.get_by_test_id("health-cv-accuracy")).to_contain_text("%")
    images = seeded["report"]["cv_accuracy"]["images"]
    expect(page.get_by_test_id("health-cv-interval")).to_contain_text(f"{images} labelled images")
    expect(page.get_by_test_id("health-queue-row").first).to_contain_text("Label issue")

    row = page.locator(f'[data-key="label:{flipped}"]')
    row.click()
    item = page.get_by_test_id("health-item")
    expect(item).to_have_attribute("data-image-id", str(flipped))
    expect(page.get_by_test_id("health-label-vs-suggestion")).to_contain_text("bees")
    expect(page.get_by_test_id("health-label-vs-suggestion")).to_contain_text("ants")
    expect(page.get_by_test_id("health-image")).to_be_visible()
    shot("01-flipped-label-flagged")

    page.get_by_test_id("health-accept").click()
    expect(page.get_by_test_id("undo-toast")).to_contain_text("Labelled “ants” (was “bees”)")
    expect(row).to_have_count(0)
    assert _label(page, pid, flipped) == "ants"
    history = page.request.get(f"/api/v1/projects/{pid}/images/{flipped}/history/").json()
    assert history["results"][0]["source"] == "suggestion"
    shot("02-accepted")

    page.get_by_test_id("undo").click()
    expect(page.get_by_text("Back to “bees”.")).to_be_visible()
    expect(row).to_have_count(1, timeout=10_000)
    _wait_label(page, pid, flipped, "bees")

    # Accepted again, this time with the keyboard.
    row.click()
    expect(item).to_have_attribute("data-image-id", str(flipped))
    page.keyboard.press("a")
    expect(row).to_have_count(0)
    _wait_label(page, pid, flipped, "ants")
    expect(page.get_by_test_id("undo-toast").last).to_contain_text("Labelled “ants”")
    shot("03-accepted-again")


def test_a_copy_across_train_and_test_shows_as_leaking(page: Page, shot, live_platform, seeded):
    pid, copy = seeded["project"]["id"], seeded["copy"]
    pairs = [p for p in seeded["report"]["near_duplicates"] if copy in p["images"]]
    assert pairs and pairs[0]["cross_split"], seeded["report"]["near_duplicates"]

    _log_in(page, seeded["username"], f"/projects/{pid}/health")
    a, b = pairs[0]["images"]
    page.locator(f'[data-key="duplicate:{a}-{b}"]').click()
    item = page.get_by_test_id("health-item")
    expect(item).to_have_attribute("data-kind", "duplicate")
    expect(item).to_contain_text("Leaks into the test split")
    expect(item.get_by_text("the copy", exact=True)).to_be_visible()
    expect(page.get_by_test_id("health-image")).to_have_count(2)
    shot("01-leaking-duplicate")


def test_the_map_confusion_and_learning_curve_open(page: Page, shot, live_platform, seeded):
    pid = seeded["project"]["id"]
    _log_in(page, seeded["username"], f"/projects/{pid}/health?view=map")
    canvas = page.get_by_test_id("map-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box is not None
    # A rectangle over the whole map selects every image.
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=5)
    page.mouse.up()
    expect(page.get_by_test_id("map-selection")).to_contain_text("images selected")
    shot("01-map-selection")

    page.get_by_test_id("health-tab-confusion").click()
    cells = page.get_by_test_id("confusion-cell")
    expect(cells).to_have_count(4)
    cells.nth(0).click()
    expect(page.get_by_test_id("confusion-image").first).to_be_visible()
    shot("02-confusion-cell")

    page.get_by_test_id("health-tab-insights").click()
    expect(page.get_by_test_id("learning-curve")).to_be_visible()
    expect(page.get_by_test_id("slices")).to_contain_text("No metadata yet")
    shot("03-learning-curve-and-slices")
