"""A canary rollout: the candidate answers its share of the requests, each answer names the
version that gave it, in every web process; promote and stop end it."""

from __future__ import annotations

import dataclasses

import pytest

from apps.deployments.canary import deployment_candidate_set
from apps.deployments.models import DeploymentChange
from apps.deployments.serving import ServingRegistry
from apps.deployments.serving.registry import canary_route
from tests.deployments.conftest import upload

pytestmark = pytest.mark.django_db


def _url(deployment) -> str:
    return f"/api/v1/deployments/{deployment.slug}/candidate/"


def _predict(client, slug: str, data: bytes) -> dict:
    response = client.post(f"/api/v1/predict/{slug}/", {"image": upload(data)}, format="multipart")
    assert response.status_code == 200, response.content
    return response.json()


def test_canary_answers_its_share_and_names_the_version(
    auth_client, project, make_version, deployment, key_client, ant_jpeg
):
    v1 = deployment.model_version
    v2 = make_version(project, "v2")
    reference = {v1.pk: _predict(key_client, deployment.slug, ant_jpeg)["predictions"]}
    response = auth_client.put(
        _url(deployment), {"model_version": v2.pk, "mode": "canary", "percent": 50}, format="json"
    )
    assert response.status_code == 200, response.content
    state = response.json()
    assert (state["mode"], state["model_version"], state["percent"]) == ("canary", v2.pk, 50)

    answers = [_predict(key_client, deployment.slug, ant_jpeg) for _ in range(40)]
    by_version = {a["model_version"] for a in answers}
    assert by_version == {v1.pk, v2.pk}  # 2 x 0.5^40 odds of failing by chance
    for answer in answers:
        number = 1 if answer["model_version"] == v1.pk else 2
        assert answer["model_version_number"] == number
        if answer["model_version"] == v1.pk:
            assert answer["predictions"] == reference[v1.pk]
    # Answers from the candidate are the candidate's own (the two models differ).
    from_v2 = [a["predictions"] for a in answers if a["model_version"] == v2.pk]
    assert all(p == from_v2[0] != reference[v1.pk] for p in from_v2)

    shown = auth_client.get(f"/api/v1/deployments/{deployment.slug}/").json()["candidate"]
    assert shown["model_version_number"] == 2
    assert shown["predictions"]["candidate"] + shown["predictions"]["live"] == 40
    assert shown["predictions"]["candidate"] == len(from_v2)


def test_canary_route_share():
    """10 % of 2,000 requests within +-3 % (the issue's figure), from the routing itself."""
    live = _live(canary_percent=10)
    answered = [canary_route(live).model_version_id for _ in range(2000)]
    share = answered.count(2) / len(answered)
    assert 0.07 <= share <= 0.13
    # The draw decides: below the percent, the candidate.
    assert canary_route(live, 0.0999).model_version_id == 2
    assert canary_route(live, 0.1).model_version_id == 1
    assert canary_route(dataclasses.replace(live, canary=None), 0.0).model_version_id == 1


def _live(canary_percent: int):
    from apps.deployments.serving.registry import LiveDeployment

    base = LiveDeployment(
        id=1,
        slug="s",
        project_id=1,
        owner_id=1,
        model_version_id=1,
        model_version_number=1,
        backbone="efficientnet_lite0",
        labels=("a", "b"),
        onnx_name="a.onnx",
        threshold=0.5,
        store_images=False,
        rate_limit="10/min",
    )
    candidate = dataclasses.replace(base, model_version_id=2, model_version_number=2)
    return dataclasses.replace(base, canary=candidate, canary_percent=canary_percent)


def test_promote_records_the_change_and_ends_the_canary(
    auth_client, user, project, make_version, deployment, key_client, ant_jpeg
):
    v2 = make_version(project, "v2")
    deployment_candidate_set(
        deployment=deployment, model_version_id=v2.pk, mode="canary", percent=10
    )
    response = auth_client.post(_url(deployment) + "promote/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"]["id"] == v2.pk and body["candidate"] is None
    assert {_predict(key_client, deployment.slug, ant_jpeg)["model_version"] for _ in range(5)} == {
        v2.pk
    }
    latest = DeploymentChange.objects.filter(deployment=deployment).order_by("-id").first()
    assert (latest.reason, latest.to_version_id, latest.changed_by_id) == (
        "promotion",
        v2.pk,
        user.pk,
    )
    assert auth_client.post(_url(deployment) + "promote/").status_code == 409


def test_stop_returns_every_request_to_the_live_version(
    auth_client, project, make_version, deployment, django_capture_on_commit_callbacks
):
    v1 = deployment.model_version
    v2 = make_version(project, "v2")
    other_process = ServingRegistry()
    with django_capture_on_commit_callbacks(execute=True):
        deployment_candidate_set(
            deployment=deployment, model_version_id=v2.pk, mode="canary", percent=30
        )
    other_process.refresh()
    live = other_process.deployment(deployment.slug)
    assert live.canary is not None and live.canary.model_version_id == v2.pk
    assert live.canary_percent == 30 and live.model_version_id == v1.pk

    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.delete(_url(deployment)).status_code == 204
    other_process.refresh()
    assert other_process.deployment(deployment.slug).canary is None
    assert auth_client.get(_url(deployment)).status_code == 404
    assert auth_client.delete(_url(deployment)).status_code == 404


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"mode": "blue", "percent": 10}, "invalid_mode"),
        ({"mode": "shadow", "percent": 10}, "invalid_percent"),
        ({"mode": "canary", "percent": 10, "gate_min_requests": 5}, "invalid_gate"),
        ({"mode": "canary", "percent": 0}, "invalid_percent"),
        ({"mode": "canary", "percent": 100}, "invalid_percent"),
        ({"mode": "canary", "percent": 10, "model_version": "live"}, "invalid_model_version"),
    ],
)
def test_bad_canaries_are_refused(auth_client, project, make_version, deployment, body, code):
    body = {"model_version": make_version(project, "v2").pk, **body}
    if body["model_version"] == "live":
        body["model_version"] = deployment.model_version_id
    response = auth_client.put(_url(deployment), body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code
    deployment.refresh_from_db()
    assert deployment.candidate_version_id is None


def test_others_cannot_touch_the_canary(other_client, project, make_version, deployment):
    v2 = make_version(project, "v2")
    body = {"model_version": v2.pk, "mode": "canary", "percent": 10}
    assert other_client.put(_url(deployment), body, format="json").status_code == 404
    deployment.refresh_from_db()
    assert deployment.candidate_version_id is None
