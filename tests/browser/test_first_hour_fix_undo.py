"""Issue 13, items 3, 8 and 9: the mistakes gallery's Fix starts on the image's current label,
asks neutrally, enlarges the photo and can be undone; bulk label and add-to-dataset can be
undone; a duplicate added from the log is not relabelled silently; "Deploy another version"
starts on a version not deployed; deleting in the viewer moves on without a 404; the upload's
"not added" counts agree; the data set can be searched by file name.

Delete asks first (a confirmation modal) rather than offering Undo: the stored files are
removed at once, which a toast could not bring back."""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx
import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.docs_shots import docs_shot
from tests.conftest import HYMENOPTERA
from tests.e2e.helpers import create_project, train, upload_images

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "a-long-enough-pass-42"
TRAINING_TIMEOUT_S = 150


def photos(split: str, label: str, count: int, skip: int = 0):
    return sorted((HYMENOPTERA / split / label).glob("*.jpg"))[skip : skip + count]


@pytest.fixture(scope="module")
def trained(live_platform):
    """Two quick versions of an ants/bees project, v1 deployed, with an API key."""
    username = f"fix-undo-{uuid.uuid4().hex[:6]}"
    client = live_platform.signup(username, PASSWORD)
    with client:
        project = create_project(client, "Ants or bees", labels=["ants", "bees"])
        for label in ("ants", "bees"):
            upload_images(client, project["id"], photos("train", label, 10), label=label)
            upload_images(client, project["id"], photos("val", label, 4), label=label, split="test")
        first = train(client, project["id"], timeout=TRAINING_TIMEOUT_S)
        assert first["status"] == "succeeded", first
        deployment = client.post(
            f"/api/v1/projects/{project['id']}/deployments/",
            json={"model_version": first["model_version"]},
        )
        assert deployment.status_code == 201, deployment.text
        second = train(client, project["id"], timeout=TRAINING_TIMEOUT_S)
        assert second["status"] == "succeeded", second
        slug = deployment.json()["slug"]
        key = client.post(f"/api/v1/deployments/{slug}/keys/", json={"name": "t"}).json()["key"]
    return {
        "username": username,
        "project": project,
        "v1": first["model_version"],
        "v2": second["model_version"],
        "slug": slug,
        "key": key,
    }


def log_in(page: Page, username: str, to: str) -> None:
    page.goto(to)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(re.escape(to.split("?")[0])))


def api(page: Page, method: str, path: str, **kwargs):
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    headers = {"X-CSRFToken": cookies.get("csrftoken", "")}
    response = page.request.fetch(path, method=method, headers=headers, **kwargs)
    return response


def image_by_name(page: Page, project_id: int, filename: str) -> dict:
    body = api(page, "GET", f"/api/v1/projects/{project_id}/images/?filename={filename}").json()
    assert body["count"] == 1, body
    return body["results"][0]


def test_fix_starts_on_the_current_label_and_can_be_undone(page: Page, shot, trained):
    project_id = trained["project"]["id"]
    log_in(page, trained["username"], f"/projects/{project_id}/train")
    expect(page.get_by_test_id("training-job").first).to_be_visible()
    docs_shot(page, "05-train")
    ant = photos("val", "ants", 1)[0]
    image = image_by_name(page, project_id, ant.name)
    assert image["label"] == "ants"

    # A correctly labelled ant the model called a bee (made certain by patching the answer:
    # which test images a tiny model gets wrong is up to chance).
    def with_mistake(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        body["metrics"]["misclassified"] = [
            {"id": image["id"], "true": "ants", "predicted": "bees", "confidence": 0.91}
        ]
        route.fulfill(response=response, body=json.dumps(body))

    page.get_by_test_id("tab-model").click()
    expect(page.get_by_test_id("model-accuracy")).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    docs_shot(page, "06-model")

    page.route(re.compile(r"/api/v1/models/\d+/$"), with_mistake)
    page.reload()
    card = page.get_by_test_id("misclassified-item")
    expect(card).to_have_count(1)
    gallery = page.get_by_test_id("misclassified-gallery")
    expect(gallery).not_to_contain_text("Often the label in the data is what is wrong")
    expect(card).to_contain_text("Check the photo: is the label right?")
    # Both answers side by side; the picker starts on the label the image has NOW.
    expect(card.get_by_test_id("fix-keep")).to_contain_text("Keep “ants”")
    expect(card.get_by_test_id("fix-change")).to_contain_text("Change to “bees”")
    expect(card.get_by_test_id("fix-other")).to_have_value("ants")

    # The photo can be enlarged to judge it.
    card.get_by_test_id("mistake-enlarge").click()
    big = page.get_by_test_id("mistake-enlarged-image")
    expect(big).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=big.element_handle())
    shot("01-mistake-enlarged", full_page=False)
    page.keyboard.press("Escape")
    expect(big).to_be_hidden()

    # A change says what it did and offers Undo, which puts the old label back via the API.
    card.get_by_test_id("fix-change").click()
    toast = page.get_by_test_id("undo-toast")
    expect(toast).to_contain_text("relabeled from “ants” to “bees”")
    expect(card.get_by_test_id("fix-done")).to_contain_text("Now “bees”")
    assert image_by_name(page, project_id, ant.name)["label"] == "bees"
    shot("02-fix-with-undo", full_page=False)
    toast.get_by_test_id("undo").click()
    expect(page.get_by_text("is labeled “ants” again")).to_be_visible()
    expect(card.get_by_test_id("fix-keep")).to_be_visible()
    assert image_by_name(page, project_id, ant.name)["label"] == "ants"
    # "Keep" changes nothing.
    card.get_by_test_id("fix-keep").click()
    expect(card.get_by_test_id("fix-kept")).to_be_visible()
    assert image_by_name(page, project_id, ant.name)["label"] == "ants"


def test_dataset_search_bulk_undo_viewer_delete_and_upload_counts(
    page: Page, shot, trained, tmp_path
):
    project_id = trained["project"]["id"]
    log_in(page, trained["username"], f"/projects/{project_id}/dataset")
    expect(page.get_by_test_id("thumbnail").first).to_be_visible()
    docs_shot(page, "03-dataset")

    # Search by file name: part of it, any case, through the API's filename filter.
    bees = photos("train", "bees", 2)
    part = bees[0].stem[:6].upper()
    expected = api(page, "GET", f"/api/v1/projects/{project_id}/images/?filename={part}").json()
    assert 1 <= expected["count"] < 28
    page.get_by_test_id("filename-search").fill(part)
    expect(page).to_have_url(re.compile(rf"filename={part}"))
    expect(page.get_by_test_id("thumbnail")).to_have_count(expected["count"])
    page.get_by_test_id("filename-search").fill("")
    expect(page).not_to_have_url(re.compile(r"filename="))
    expect(page.get_by_test_id("thumbnail")).to_have_count(28)

    # Bulk label two bees "ants", then Undo: each gets its previous label back.
    names = [p.name for p in bees]
    thumbs = [page.locator(f'[data-testid="thumbnail"]:has(img[alt="{n}"])') for n in names]
    thumbs[0].click()
    thumbs[1].click(modifiers=["Control"])
    expect(page.get_by_test_id("selection-count")).to_contain_text("2 selected")
    page.keyboard.press("1")
    toast = page.get_by_test_id("undo-toast")
    expect(toast).to_contain_text("2 images labeled “ants”")
    for thumb in thumbs:
        expect(thumb).to_have_attribute("data-label", "ants")
    docs_shot(page, "04-label")
    toast.get_by_test_id("undo").click()
    for thumb in thumbs:
        expect(thumb).to_have_attribute("data-label", "bees")
    for name in names:
        assert image_by_name(page, project_id, name)["label"] == "bees"

    # Deleting in the viewer moves on to the next image; nothing asks for the deleted one
    # again (a 404 there would be a console error, which fails this test).
    first = page.get_by_test_id("thumbnail").first
    gone = first.locator("img").get_attribute("alt")
    following = page.get_by_test_id("thumbnail").nth(1).locator("img").get_attribute("alt")
    first.click()
    page.keyboard.press("Enter")
    viewer_image = page.get_by_test_id("viewer-image")
    expect(viewer_image).to_have_attribute("alt", gone)
    page.get_by_test_id("viewer-delete").click()
    page.get_by_test_id("confirm-delete").click()
    expect(viewer_image).to_have_attribute("alt", following)
    expect(page.get_by_test_id("thumbnail")).to_have_count(27)
    page.wait_for_timeout(1500)  # the refetches after the delete have happened
    shot("03-viewer-after-delete", full_page=False)
    page.keyboard.press("Escape")

    # Upload one new photo, one the project has, one that is not an image: the "Not added"
    # switch and the sentence under the bar count the same two files.
    fake = tmp_path / "notes.jpg"
    fake.write_text("not a picture\n")
    new = photos("train", "ants", 1, skip=40)[0]
    again = photos("train", "ants", 1)[0]
    if not page.get_by_test_id("upload-panel").is_visible():
        page.get_by_test_id("toggle-upload").click()
    page.get_by_test_id("upload-input").set_input_files([str(new), str(again), str(fake)])
    summary = page.get_by_test_id("upload-summary")
    expect(summary).to_have_attribute("data-busy", "false", timeout=60_000)
    expect(page.get_by_text("Not added (2)")).to_be_visible()
    alert = page.get_by_test_id("upload-rejected")
    expect(alert).to_contain_text("2 files were not added")
    expect(alert).to_contain_text("1 already in the project, 1 refused")
    shot("04-upload-not-added")


def test_deploy_another_version_and_add_to_dataset_undo_and_duplicates(page: Page, shot, trained):
    project_id = trained["project"]["id"]
    log_in(page, trained["username"], f"/projects/{project_id}/deploy")
    expect(page.get_by_test_id("deployment-version")).to_contain_text("v1")
    # v1 is deployed: the form for another deployment starts on v2.
    expect(page.get_by_test_id("deploy-version")).to_have_value(re.compile(r"^v2 "))
    docs_shot(page, "07-deploy")

    # Try it in the page first (the README's last picture).
    page.get_by_test_id("try-input").set_input_files(str(photos("val", "bees", 1, skip=10)[0]))
    expect(page.get_by_test_id("try-result")).to_contain_text("by model v1", timeout=30_000)
    docs_shot(page, "08-predict")

    predict_url = page.get_by_test_id("predict-url").input_value()
    new = photos("val", "bees", 1, skip=20)[0]
    known = photos("val", "ants", 1)[0]  # in the data set, labeled ants
    with httpx.Client(timeout=60) as http:
        for path in (known, new):
            answer = http.post(
                predict_url,
                headers={"Authorization": f"Api-Key {trained['key']}"},
                files={"image": (path.name, path.read_bytes(), "image/jpeg")},
            )
            assert answer.status_code == 200, answer.text
    page.goto(f"/projects/{project_id}/deploy?log=all")
    rows = page.get_by_test_id("prediction-row")
    expect(rows).to_have_count(3, timeout=15_000)
    count_before = api(page, "GET", f"/api/v1/projects/{project_id}/images/").json()["count"]

    # The newest (a new photo): added, then Undo deletes the created image again.
    newest = rows.first
    newest.get_by_test_id("add-to-dataset").click()
    page.get_by_test_id("add-to-dataset-label").click()
    page.get_by_role("option", name="bees", exact=True).click()
    page.get_by_test_id("add-to-dataset-confirm").click()
    toast = page.get_by_test_id("undo-toast")
    expect(toast).to_contain_text("Added to the data set as “bees”")
    assert api(page, "GET", f"/api/v1/projects/{project_id}/images/").json()["count"] == (
        count_before + 1
    )
    toast.get_by_test_id("undo").click()
    expect(page.get_by_text("taken out of the data set again")).to_be_visible()
    assert (
        api(page, "GET", f"/api/v1/projects/{project_id}/images/").json()["count"] == count_before
    )
    expect(newest.get_by_test_id("add-to-dataset")).to_be_visible()

    # The older one is a photo the data set has as "ants": adding it as "bees" changes
    # nothing by itself; the page says so and lets the user choose.
    older = rows.nth(1)
    older.get_by_test_id("add-to-dataset").click()
    page.get_by_test_id("add-to-dataset-label").click()
    page.get_by_role("option", name="bees", exact=True).click()
    page.get_by_test_id("add-to-dataset-confirm").click()
    choice = older.get_by_test_id("add-to-dataset-duplicate")
    expect(choice).to_contain_text("already has this image, labeled ants")
    assert image_by_name(page, project_id, known.name)["label"] == "ants"
    shot("05-add-duplicate")
    choice.get_by_test_id("duplicate-use-new").click()
    expect(page.get_by_test_id("undo-toast")).to_contain_text("labeled “bees” now")
    deadline = time.monotonic() + 5
    while image_by_name(page, project_id, known.name)["label"] != "bees":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    page.get_by_test_id("undo-toast").get_by_test_id("undo").click()
    expect(page.get_by_text("is labeled “ants” again")).to_be_visible()
    assert image_by_name(page, project_id, known.name)["label"] == "ants"

    # Once v2 serves, the form starts on v1: never on the version already deployed.
    page.get_by_test_id("switch-version-select").click()
    page.get_by_role("option", name=re.compile(r"^v2")).click()
    page.get_by_test_id("switch-version").click()
    expect(page.get_by_test_id("deployment-version")).to_contain_text("v2")
    expect(page.get_by_test_id("deploy-version")).to_have_value(re.compile(r"^v1 "))
