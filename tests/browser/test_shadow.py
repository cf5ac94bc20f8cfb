"""Issue 16 in the browser: a shadow rollout started on the Deploy page. The live version
answers every API request; the page shows the candidate's agreement and the requests where
the two disagreed, and labeling one puts its image into the data set."""

from __future__ import annotations

import io
import re
import uuid
import zipfile

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import HYMENOPTERA
from tests.e2e.helpers import create_project, train, upload_images

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "a-long-enough-pass-42"
TRAINING_TIMEOUT_S = 150


@pytest.fixture(scope="module")
def shadowed(live_platform):
    """v1 trained on ants and bees, v2 after most training ants were relabelled bees (so it
    calls many ants bees); a deployment serving v1 with an API key."""
    username = f"shadow-{uuid.uuid4().hex[:6]}"
    client = live_platform.signup(username, PASSWORD)
    with client:
        pid = create_project(client, "Ants or bees", labels=["ants", "bees"])["id"]
        for label in ("ants", "bees"):
            paths = sorted((HYMENOPTERA / "train" / label).glob("*.jpg"))[:10]
            upload_images(client, pid, paths, label=label, split="train")
        first = train(client, pid, timeout=TRAINING_TIMEOUT_S)
        assert first["status"] == "succeeded", first
        images = client.get(
            f"/api/v1/projects/{pid}/images/", params={"label": "ants", "split": "train"}
        ).json()["results"]
        for image in images[:8]:
            response = client.patch(
                f"/api/v1/projects/{pid}/images/{image['id']}/", json={"label": "bees"}
            )
            assert response.status_code == 200, response.text
        second = train(client, pid, timeout=TRAINING_TIMEOUT_S)
        assert second["status"] == "succeeded", second
        created = client.post(
            f"/api/v1/projects/{pid}/deployments/", json={"model_version": first["model_version"]}
        )
        assert created.status_code == 201, created.text
        slug = created.json()["slug"]
        key = client.post(f"/api/v1/deployments/{slug}/keys/", json={"name": "shadow test"})
        assert key.status_code == 201, key.text
    return {
        "username": username,
        "project": pid,
        "slug": slug,
        "v1": first["model_version"],
        "v2": second["model_version"],
        "key": key.json()["key"],
        "auth": client.headers["Authorization"],
    }


def log_in(page: Page, username: str, to: str) -> None:
    page.goto(to)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(re.escape(to.split("?")[0])))


def test_shadow_from_the_deploy_page(page: Page, shot, live_platform, shadowed):
    pid, slug = shadowed["project"], shadowed["slug"]
    log_in(page, shadowed["username"], f"/projects/{pid}/deploy")
    rollout = page.get_by_test_id("canary")
    expect(rollout).to_have_attribute("data-state", "idle")
    page.get_by_test_id("rollout-mode").get_by_text("Shadow", exact=False).click()
    page.get_by_test_id("canary-start").click()
    expect(rollout).to_have_attribute("data-mode", "shadow")
    expect(page.get_by_test_id("shadow-gate")).to_have_attribute("data-state", "off")

    photos = sorted((HYMENOPTERA / "val" / "ants").glob("*.jpg"))[:20]
    with live_platform.client() as client:
        client.headers["Authorization"] = f"Api-Key {shadowed['key']}"
        for photo in photos:
            answer = client.post(
                f"/api/v1/predict/{slug}/",
                files={"image": (photo.name, photo.read_bytes(), "image/jpeg")},
            )
            assert answer.status_code == 200, answer.text
            # The live version answers every request.
            assert answer.json()["model_version"] == shadowed["v1"]

    state = page.get_by_test_id("shadow-state")
    expect(state).to_have_attribute("data-requests", str(len(photos)), timeout=30_000)
    card = page.get_by_test_id("disagreement").first
    expect(card).to_be_visible(timeout=10_000)
    expect(card.locator("img")).to_be_visible()
    shot("shadow")

    def ants() -> int:
        with live_platform.client() as owner:
            owner.headers["Authorization"] = shadowed["auth"]
            images = owner.get(f"/api/v1/projects/{pid}/images/", params={"label": "ants"})
        assert images.status_code == 200, images.text
        return int(images.json()["count"])

    before = ants()
    card.get_by_test_id("disagreement-label").click()
    page.get_by_role("option", name="ants", exact=True).click()
    settled_id = card.get_attribute("data-id")
    card.get_by_test_id("disagreement-settle").click()
    settled = page.locator(f'[data-testid="disagreement"][data-id="{settled_id}"]')
    expect(settled).to_have_attribute("data-settled", "ants")
    expect(page.get_by_test_id("shadow-counts")).to_contain_text("right")

    assert ants() == before + 1

    page.get_by_test_id("canary-stop").click()
    expect(rollout).to_have_attribute("data-state", "idle")

    # The deployment's Monitoring page (issue 17): the API predictions in its totals, and
    # the drift card.
    page.get_by_test_id("monitoring-link").click()
    page.wait_for_url(re.compile(r"/monitoring$"))
    expect(page.get_by_test_id("monitoring-requests")).to_contain_text(str(len(photos)))
    expect(page.get_by_test_id("drift-status")).to_be_visible()
    shot("monitoring")

    # Batch prediction from the Deploy page (issue 17): a zip of three photos and one file
    # that is not an image; the real workers answer it, one row per member.
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        for photo in photos[:3]:
            bundle.writestr(f"batch/{photo.name}", photo.read_bytes())
        bundle.writestr("batch/notes.txt", b"not an image")
    page.goto(f"/projects/{pid}/deploy")
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("batch-upload").click()
    chooser.value.set_files(
        files=[{"name": "photos.zip", "mimeType": "application/zip", "buffer": archive.getvalue()}]
    )
    row = page.get_by_test_id("batch-row").first
    expect(row).to_have_attribute("data-status", "succeeded", timeout=60_000)
    expect(row.get_by_test_id("batch-csv")).to_be_visible()
    with live_platform.client() as owner:
        owner.headers["Authorization"] = shadowed["auth"]
        batches = owner.get(f"/api/v1/deployments/{slug}/batches/").json()["results"]
        results = owner.get(f"/api/v1/batches/{batches[0]['id']}/results.json").json()
    rows = results["results"]
    assert [r["name"] for r in rows] == [f"batch/{p.name}" for p in photos[:3]] + [
        "batch/notes.txt"
    ]
    assert all(r["label"] in ("ants", "bees") and r["error"] is None for r in rows[:3])
    assert rows[3]["label"] is None and rows[3]["error"]
    shot("batch")
