"""The path a user takes through Bakehouse, in a real browser against the real platform:
sign up, define a project, upload and label photos (keyboard and multi-select), train,
read the model's metrics, deploy, make an API key, and call the prediction API with it.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "a-long-enough-pass-42"
# Quick training on ~30 images takes seconds; the slack is for a busy 2-core CI machine.
TRAINING_TIMEOUT_MS = 150_000


def thumbnail(page: Page, filename: str):
    return page.locator(f'[data-testid="thumbnail"]:has(img[alt="{filename}"])')


def label_of(path: Path) -> str:
    return path.parent.name  # .../train/ants/x.jpg -> "ants"


def sign_up(page: Page, shot) -> str:
    username = f"baker-{uuid.uuid4().hex[:6]}"
    page.goto("/")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    shot("01-login")
    page.get_by_test_id("to-signup").click()
    expect(page.get_by_test_id("signup-form")).to_be_visible()
    page.get_by_test_id("signup-username").fill(username)
    page.get_by_test_id("signup-email").fill(f"{username}@example.com")
    page.get_by_test_id("signup-password").fill(PASSWORD)
    shot("02-signup")
    page.get_by_test_id("signup-submit").click()
    expect(page.get_by_test_id("projects-empty")).to_be_visible()
    expect(page.get_by_test_id("user-menu")).to_contain_text(username)
    shot("03-projects-empty")
    return username


def create_project(page: Page, shot) -> int:
    page.get_by_test_id("new-project").click()
    form = page.get_by_test_id("new-project-form")
    expect(form).to_be_visible()
    page.get_by_test_id("project-name").fill("Ants or bees")
    page.get_by_test_id("project-predicts").fill("Is the insect in the photo an ant or a bee?")
    labels = page.get_by_test_id("project-labels")
    labels.fill("ants")
    labels.press("Enter")
    labels.fill("bees")
    labels.press("Enter")
    page.get_by_test_id("project-target").fill("80")
    shot("04-new-project", full_page=False)
    page.get_by_test_id("create-project").click()
    page.wait_for_url(re.compile(r"/projects/\d+/dataset"))
    expect(page.get_by_test_id("project-title")).to_have_text("Ants or bees")
    return int(re.search(r"/projects/(\d+)/", page.url).group(1))


def upload(page: Page, files: list[Path], *, label: str = "", split: str = "") -> None:
    """Chooses `files` in the upload panel's file input and waits for every one to be added."""
    panel = page.get_by_test_id("upload-panel")
    if not panel.is_visible():
        page.get_by_test_id("toggle-upload").click()
        expect(panel).to_be_visible()
    if label:
        page.get_by_test_id("upload-label").fill(label)
    if split:
        page.get_by_test_id("upload-split").click()
        page.get_by_role("option", name=split, exact=True).click()
    summary = page.get_by_test_id("upload-summary")
    before = int(summary.get_attribute("data-created") or 0) if summary.count() else 0
    page.get_by_test_id("upload-input").set_input_files([str(f) for f in files])
    # The file list is virtualised (only the rows on screen exist), so read the summary.
    expect(summary).to_have_attribute("data-busy", "false", timeout=60_000)
    expect(summary).to_have_attribute("data-created", str(before + len(files)))
    expect(summary).to_have_attribute("data-rejected", "0")


def test_sign_up_label_train_deploy_and_predict(
    page: Page, shot, live_platform, hymenoptera_sample
):
    sign_up(page, shot)
    project_id = create_project(page, shot)

    # --- upload 20 unlabeled photos --------------------------------------------------------
    train_files = hymenoptera_sample["train/ants"] + hymenoptera_sample["train/bees"]
    expect(page.get_by_test_id("grid-empty")).to_be_visible()
    upload(page, train_files)
    expect(page.get_by_test_id("thumbnail")).to_have_count(20)
    expect(page.get_by_test_id("stat-unlabeled")).to_have_text("20")
    shot("05-dataset-uploaded")

    # --- label 12 with the keyboard: click the first, then a number key per image ----------
    truth = {f.name: label_of(f) for f in train_files}
    shown = page.locator('[data-testid="thumbnail"] img').evaluate_all("els => els.map(e => e.alt)")
    assert sorted(shown) == sorted(truth)
    # The pictures themselves load: /media/ answers the signed-in owner (session cookie).
    first_img = page.locator('[data-testid="thumbnail"] img').first
    first_img.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=first_img.element_handle()
    )
    page.get_by_test_id("thumbnail").first.click()
    for name in shown[:12]:
        expect(thumbnail(page, name)).to_have_attribute("data-focused", "true")
        page.keyboard.press("1" if truth[name] == "ants" else "2")
        expect(thumbnail(page, name)).to_have_attribute("data-label", truth[name])
    expect(page.get_by_test_id("stat-unlabeled")).to_have_text("8")
    shot("06-dataset-keyboard-labeled")

    # --- the other 8 by multi-select: ctrl-click all of one label, one key for all ---------
    for label, key in (("ants", "1"), ("bees", "2")):
        rest = [n for n in shown[12:] if truth[n] == label]
        if not rest:
            continue
        page.get_by_test_id("thumbnail").nth(shown.index(rest[0])).click()
        for name in rest[1:]:
            thumbnail(page, name).click(modifiers=["Control"])
        if len(rest) > 1:
            expect(page.get_by_test_id("selection-count")).to_contain_text(f"{len(rest)} selected")
            shot(f"07-dataset-multiselect-{label}")
        page.keyboard.press(key)
        for name in rest:
            expect(thumbnail(page, name)).to_have_attribute("data-label", label)
    expect(page.get_by_test_id("stat-unlabeled")).to_have_text("0")
    for name, label in truth.items():
        expect(thumbnail(page, name)).to_have_attribute("data-label", label)

    # --- 4 + 4 photos from val/ uploaded with their label, into the test split: the model is
    # then measured on them (and on any the automatic split put there), never trained on them.
    for label in ("ants", "bees"):
        upload(page, hymenoptera_sample[f"val/{label}"], label=label, split="Test")
    expect(page.get_by_test_id("stat-total")).to_have_text("28")
    expect(page.get_by_test_id("stat-unlabeled")).to_have_text("0")
    expect(page.locator('[data-testid="filter-label"][data-label="ants"]')).to_contain_text("14")
    expect(page.locator('[data-testid="filter-label"][data-label="bees"]')).to_contain_text("14")
    shot("08-dataset-labeled")

    # The image viewer opens on Enter (the focused image) and closes on Escape.
    page.get_by_test_id("thumbnail").first.click()
    page.keyboard.press("Enter")
    viewer = page.get_by_role("dialog")
    expect(page.get_by_test_id("viewer-image")).to_be_visible()
    expect(page.get_by_test_id("viewer-details")).to_be_visible()
    shot("08b-dataset-viewer", full_page=False)
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # --- train (quick) ---------------------------------------------------------------------
    page.get_by_test_id("tab-train").click()
    expect(page.get_by_test_id("training-empty")).to_be_visible()
    shot("09-train-before")
    page.get_by_test_id("train-button").click()
    job = page.get_by_test_id("training-job")
    expect(job).to_be_visible()
    expect(page.get_by_test_id("training-progress")).to_be_visible()
    shot("10-train-running")
    expect(job).to_have_attribute("data-status", "succeeded", timeout=TRAINING_TIMEOUT_MS)
    expect(page.get_by_test_id("training-succeeded")).to_be_visible()
    expect(page.get_by_test_id("training-curves")).to_be_visible()
    # Numbered within the project (ids count every project on the server), mode by name.
    expect(job).to_contain_text("Training run #1")
    expect(job).to_contain_text("Fast")
    shot("11-train-done")

    # --- the model page ----------------------------------------------------------------------
    page.get_by_test_id("tab-model").click()
    accuracy = page.get_by_test_id("model-accuracy")
    expect(accuracy).to_have_text(re.compile(r"^\d{1,3}(\.\d)?%$"))
    assert 50 <= float(accuracy.inner_text().rstrip("%")) <= 100
    expect(page.get_by_test_id("confusion-matrix")).to_be_visible()
    expect(page.get_by_test_id("confusion-cell")).to_have_count(4)
    cells = [int(c) for c in page.get_by_test_id("confusion-cell").all_inner_texts()]
    assert sum(cells) > 0  # the model was measured on held-out images
    expect(page.get_by_test_id("per-class")).to_contain_text("ants")
    expect(page.get_by_test_id("model-version-row")).to_have_count(1)
    shot("12-model")

    # --- deploy, make a key -----------------------------------------------------------------
    page.get_by_test_id("deploy-this-version").click()
    page.wait_for_url(re.compile(rf"/projects/{project_id}/deploy\?version=\d+"))
    version_id = int(re.search(r"version=(\d+)", page.url).group(1))
    shot("13-deploy-before")
    page.get_by_test_id("deploy-button").click()
    deployment = page.get_by_test_id("deployment")
    expect(deployment).to_be_visible()
    slug = deployment.get_attribute("data-slug")
    assert slug
    predict_url = page.get_by_test_id("predict-url").input_value()
    assert predict_url == f"{live_platform.url}/api/v1/predict/{slug}/"
    expect(page.get_by_test_id("deployment-version")).to_contain_text("v1")

    page.get_by_test_id("key-name").fill("test suite")
    page.get_by_test_id("create-key").click()
    key_value = page.get_by_test_id("api-key-value")
    expect(key_value).to_have_text(re.compile(r"\S{20,}"))
    api_key = key_value.inner_text().strip()
    shot("14-deploy-key", full_page=False)
    page.get_by_test_id("close-key").click()
    expect(key_value).to_be_hidden()
    expect(page.get_by_test_id("key-row")).to_have_count(1)
    expect(page.get_by_test_id("key-row")).to_contain_text("test suite")
    # The snippets carry the real URL and the key just made.
    expect(page.get_by_test_id("snippet-curl")).to_contain_text(predict_url)
    expect(page.get_by_test_id("snippet-curl")).to_contain_text(api_key)

    # --- call the prediction API as another program would ------------------------------------
    val_ant = hymenoptera_sample["val/ants"][0]
    with httpx.Client(timeout=60) as client:
        response = client.post(
            predict_url,
            headers={"Authorization": f"Api-Key {api_key}"},
            files={"image": (val_ant.name, val_ant.read_bytes(), "image/jpeg")},
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["prediction"]["label"] in {"ants", "bees"}
        assert 0 < answer["prediction"]["confidence"] <= 1
        # The answer names the model version that answered: the one deployed, v1.
        assert answer["model_version"] == version_id
        assert answer["model_version_number"] == 1
        assert answer["deployment"] == slug
        # A wrong key is refused.
        refused = client.post(
            predict_url,
            headers={"Authorization": "Api-Key not-a-key"},
            files={"image": (val_ant.name, val_ant.read_bytes(), "image/jpeg")},
        )
        assert refused.status_code in (401, 403)

    # --- try it in the browser ---------------------------------------------------------------
    val_bee = hymenoptera_sample["val/bees"][0]
    page.get_by_test_id("try-input").set_input_files(str(val_bee))
    expect(page.get_by_test_id("try-label")).to_have_text(
        re.compile(r"^(ants|bees)$"), timeout=30_000
    )
    expect(page.get_by_test_id("try-result")).to_contain_text("%")
    expect(page.get_by_test_id("try-result")).to_contain_text("by model v1")
    # Both predictions (API and try-it) reach the log, which is written off the request path.
    expect(page.get_by_test_id("prediction-row")).to_have_count(2, timeout=30_000)
    expect(page.get_by_test_id("prediction-log")).to_contain_text("tried here")
    expect(page.get_by_test_id("prediction-log")).to_contain_text("by the API")
    shot("15-deploy-tried")

    page.get_by_test_id("tab-settings").click()
    expect(page.get_by_test_id("settings-label-row")).to_have_count(2)
    shot("16-settings")

    # --- the project list shows the model's accuracy -----------------------------------------
    page.goto("/")
    expect(page.get_by_test_id("project-accuracy")).to_have_text(re.compile(r"\d+(\.\d)?%"))
    shot("17-projects")
