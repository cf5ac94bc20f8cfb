"""Issue 16 in the browser: the Compare page (reached from the Model page) shows two
versions' answers on the test images they share, with what changed in the data between
them; the Deploy page's "Roll back" returns to what was served before the last change (from
the deployment's history, shown on the page), and the prediction API answers with it."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import HYMENOPTERA
from tests.e2e.helpers import create_project, train, upload_images

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "a-long-enough-pass-42"
TRAINING_TIMEOUT_S = 150


@pytest.fixture(scope="module")
def two_versions(live_platform):
    """A project with two quick versions, both tested on the same 8 test images, v2 trained
    after 6 of the 10 ant training photos were (wrongly) relabelled bees, so that it breaks
    some test ants; a deployment that served v1, then v2 (switched by hand)."""
    username = f"compare-{uuid.uuid4().hex[:6]}"
    client = live_platform.signup(username, PASSWORD)
    with client:
        project = create_project(client, "Ants or bees", labels=["ants", "bees"])
        pid = project["id"]
        for label in ("ants", "bees"):
            train_paths = sorted((HYMENOPTERA / "train" / label).glob("*.jpg"))[:10]
            test_paths = sorted((HYMENOPTERA / "val" / label).glob("*.jpg"))[:4]
            upload_images(client, pid, train_paths, label=label, split="train")
            upload_images(client, pid, test_paths, label=label, split="test")
        first = train(client, pid, timeout=TRAINING_TIMEOUT_S)
        assert first["status"] == "succeeded", first
        created = client.post(
            f"/api/v1/projects/{pid}/deployments/", json={"model_version": first["model_version"]}
        )
        assert created.status_code == 201, created.text
        slug = created.json()["slug"]
        images = client.get(
            f"/api/v1/projects/{pid}/images/", params={"label": "ants", "split": "train"}
        ).json()["results"]
        relabelled = [image["id"] for image in images[:6]]
        for image_id in relabelled:
            response = client.patch(
                f"/api/v1/projects/{pid}/images/{image_id}/", json={"label": "bees"}
            )
            assert response.status_code == 200, response.text
        second = train(client, pid, timeout=TRAINING_TIMEOUT_S)
        assert second["status"] == "succeeded", second
        switched = client.patch(
            f"/api/v1/deployments/{slug}/", json={"model_version": second["model_version"]}
        )
        assert switched.status_code == 200, switched.text
        compared = client.get(
            f"/api/v1/models/{first['model_version']}/compare/{second['model_version']}/"
        )
        assert compared.status_code == 200, compared.text
        key = client.post(f"/api/v1/deployments/{slug}/keys/", json={"name": "browser test"})
        assert key.status_code == 201, key.text
    return {
        "username": username,
        "project": pid,
        "v1": first["model_version"],
        "v2": second["model_version"],
        "relabelled": relabelled,
        "slug": slug,
        "compare": compared.json(),
        "key": key.json()["key"],
    }


def log_in(page: Page, username: str, to: str) -> None:
    page.goto(to)
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(re.compile(re.escape(to.split("?")[0])))


def test_compare_page_from_the_model_page(page: Page, shot, two_versions):
    pid, expected = two_versions["project"], two_versions["compare"]
    log_in(page, two_versions["username"], f"/projects/{pid}/model")
    page.get_by_test_id("compare-versions").click()
    page.wait_for_url(re.compile(rf"/projects/{pid}/compare"))

    result = page.get_by_test_id("compare-result")
    expect(result).to_have_attribute("data-images", "8")
    expect(page.get_by_test_id("compare-a-select")).to_have_value(re.compile(r"^v1 "))
    expect(page.get_by_test_id("compare-b-select")).to_have_value(re.compile(r"^v2 "))
    for side in ("a", "b"):
        accuracy = page.get_by_test_id(f"compare-{side}-accuracy")
        expect(accuracy).to_contain_text("%")
        value = float(accuracy.get_attribute("data-value") or "nan")
        assert value == pytest.approx(expected[side]["accuracy"])
        cells = page.get_by_test_id(f"compare-confusion-{side}").get_by_test_id(
            "compare-confusion-cell"
        )
        expect(cells).to_have_count(4)
        assert sum(int(text) for text in cells.all_inner_texts()) == 8
    expect(page.get_by_test_id("compare-label-row")).to_have_count(2)
    expect(page.get_by_test_id("compare-mcnemar")).to_contain_text("McNemar")
    # Trained with mislabelled ants, v2 gets test ants wrong that v1 got right (training is
    # deterministic, so this holds on every run).
    assert expected["broken"], expected
    for kind in ("fixed", "broken"):
        gallery = page.get_by_test_id(f"compare-{kind}")
        expect(gallery).to_have_attribute("data-count", str(len(expected[kind])))
        tiles = gallery.get_by_test_id(f"compare-{kind}-image")
        expect(tiles).to_have_count(len(expected[kind]))
        for k, image_id in enumerate(expected[kind]):
            expect(tiles.nth(k)).to_have_attribute("data-image", str(image_id))
            # The thumbnail, and the label the image has now (test images were not relabelled).
            expect(tiles.nth(k).locator("img")).to_be_visible()
            expect(tiles.nth(k)).to_contain_text(re.compile(r"ants|bees"))
    ants = page.locator('[data-testid="compare-label-row"][data-label="ants"]')
    expect(ants).to_contain_text("pts")

    diff = page.get_by_test_id("compare-data-diff")
    expect(diff).to_have_attribute("data-same", "false")
    expect(page.get_by_test_id("data-diff-relabelled")).to_have_attribute("data-count", "6")
    expect(page.get_by_test_id("data-diff-added")).to_have_attribute("data-count", "0")
    shot("compare")

    # Swapping the sides swaps what was fixed and what was broken.
    page.get_by_test_id("compare-swap").click()
    expect(page.get_by_test_id("compare-b-select")).to_have_value(re.compile(r"^v1 "))
    expect(page.get_by_test_id("compare-fixed")).to_have_attribute(
        "data-count", str(len(expected["broken"]))
    )


def test_rollback_uses_the_history(page: Page, shot, live_platform, two_versions):
    pid, slug = two_versions["project"], two_versions["slug"]
    log_in(page, two_versions["username"], f"/projects/{pid}/deploy")
    expect(page.get_by_test_id("deployment-version")).to_have_text("Serving v2")
    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-reason", "manual")
    expect(rows.nth(0)).to_contain_text("v1 → v2")
    expect(rows.nth(0)).to_contain_text(two_versions["username"])

    rollback = page.get_by_test_id("rollback")
    expect(rollback).to_have_text("Roll back to v1")
    rollback.click()
    expect(page.get_by_test_id("deployment-version")).to_have_text("Serving v1")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_have_attribute("data-reason", "rollback")
    expect(rows.nth(0)).to_contain_text("v2 → v1")
    # The last change is the rollback: rolling back again would return to v2.
    expect(page.get_by_test_id("rollback")).to_have_text("Roll back to v2")
    shot("deploy-history")

    photo = sorted((HYMENOPTERA / "val" / "ants").glob("*.jpg"))[0]
    with live_platform.client() as client:
        answer = client.post(
            f"/api/v1/predict/{slug}/",
            headers={"Authorization": f"Api-Key {two_versions['key']}"},
            files={"image": (photo.name, photo.read_bytes(), "image/jpeg")},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == two_versions["v1"]
    assert answer.json()["model_version_number"] == 1


def test_canary_from_the_deploy_page(page: Page, shot, live_platform, two_versions):
    """Start a canary at 50 %, see both versions answer the API, promote the candidate."""
    pid, slug = two_versions["project"], two_versions["slug"]
    with live_platform.client() as client:
        client.headers["Authorization"] = f"Api-Key {two_versions['key']}"
        photo = sorted((HYMENOPTERA / "val" / "bees").glob("*.jpg"))[0]

        def predict() -> dict:
            answer = client.post(
                f"/api/v1/predict/{slug}/",
                files={"image": (photo.name, photo.read_bytes(), "image/jpeg")},
            )
            assert answer.status_code == 200, answer.text
            return answer.json()

        live = predict()["model_version"]
        versions = {two_versions["v1"]: 1, two_versions["v2"]: 2}
        candidate = next(v for v in versions if v != live)

        log_in(page, two_versions["username"], f"/projects/{pid}/deploy")
        canary = page.get_by_test_id("canary")
        expect(canary).to_have_attribute("data-state", "idle")
        page.get_by_test_id("canary-percent").fill("50")
        page.get_by_test_id("canary-start").click()
        state = page.get_by_test_id("canary-state")
        expect(state).to_have_attribute("data-percent", "50")
        expect(state).to_have_attribute("data-version", str(versions[candidate]))

        answers = [predict() for _ in range(20)]
        # Each answer names the version that gave it; both answer (0.5^20 odds otherwise).
        assert {a["model_version"] for a in answers} == {live, candidate}
        for a in answers:
            assert a["model_version_number"] == versions[a["model_version"]]
        shot("canary")

        page.get_by_test_id("canary-promote").click()
        expect(page.get_by_test_id("deployment-version")).to_have_text(
            f"Serving v{versions[candidate]}"
        )
        expect(canary).to_have_attribute("data-state", "idle")
        newest = page.get_by_test_id("history-row").nth(0)
        expect(newest).to_have_attribute("data-reason", "promotion")
        expect(newest).to_contain_text(f"v{versions[live]} → v{versions[candidate]}")
        assert {predict()["model_version"] for _ in range(5)} == {candidate}
