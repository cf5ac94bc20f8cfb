"""Deployment history: every change of the served version is recorded (when, who, from,
to, why), and a rollback returns to the version served before the last change, in every
web process."""

from __future__ import annotations

import pytest

from apps.deployments.models import DeploymentChange
from apps.deployments.services import deployment_rollback, deployment_switch
from apps.deployments.serving import ServingRegistry
from tests.deployments.conftest import upload

pytestmark = pytest.mark.django_db


def _history(client, slug: str) -> list[dict]:
    response = client.get(f"/api/v1/deployments/{slug}/history/")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _predict(client, slug: str, data: bytes) -> dict:
    response = client.post(f"/api/v1/predict/{slug}/", {"image": upload(data)}, format="multipart")
    assert response.status_code == 200, response.content
    return response.json()


def test_every_switch_is_recorded(auth_client, user, project, make_version, deployment):
    v1 = deployment.model_version
    v2 = make_version(project, "v2")
    switched = auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"model_version": v2.pk}, format="json"
    )
    assert switched.status_code == 200
    # A change of settings only is not a change of version.
    auth_client.patch(f"/api/v1/deployments/{deployment.slug}/", {"threshold": 0.4}, format="json")

    history = _history(auth_client, deployment.slug)
    assert [(h["reason"], h["from_number"], h["to_number"]) for h in history] == [
        ("manual", 1, 2),
        ("deploy", None, 1),
    ]
    newest = history[0]
    assert newest["from_version"] == v1.pk and newest["to_version"] == v2.pk
    assert newest["changed_by"] == user.username and newest["created_at"]


def test_rollback_returns_to_what_was_served_before_the_last_change(
    auth_client, project, make_version, deployment, key_client, ant_jpeg
):
    v1 = deployment.model_version
    v2 = make_version(project, "v2")
    v3 = make_version(project, "v1", number=3)
    for version in (v3, v2):  # v1 -> v3 -> v2: the "previous number" (v1) is not it
        deployment_switch(deployment=deployment, model_version_id=version.pk)
    assert _predict(key_client, deployment.slug, ant_jpeg)["model_version"] == v2.pk

    response = auth_client.post(f"/api/v1/deployments/{deployment.slug}/rollback/")
    assert response.status_code == 200, response.content
    assert response.json()["model_version"]["id"] == v3.pk
    answer = _predict(key_client, deployment.slug, ant_jpeg)
    assert (answer["model_version"], answer["model_version_number"]) == (v3.pk, 3)
    latest = DeploymentChange.objects.filter(deployment=deployment).order_by("-id").first()
    assert (latest.reason, latest.from_version_id, latest.to_version_id) == (
        "rollback",
        v2.pk,
        v3.pk,
    )
    # Rolling back a rollback undoes it.
    deployment.refresh_from_db()
    deployment_rollback(deployment=deployment)
    deployment.refresh_from_db()
    assert deployment.model_version_id == v2.pk != v1.pk


def test_rollback_without_an_earlier_version_is_409(auth_client, deployment):
    response = auth_client.post(f"/api/v1/deployments/{deployment.slug}/rollback/")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "no_earlier_version"
    assert "no earlier version" in error["message"] and "v1" in error["message"]
    deployment.refresh_from_db()
    assert DeploymentChange.objects.filter(deployment=deployment).count() == 1


def test_rollback_to_a_deleted_version_is_409(auth_client, project, make_version, deployment):
    v2 = make_version(project, "v2")
    v1 = deployment.model_version
    deployment_switch(deployment=deployment, model_version_id=v2.pk)
    v1.delete()
    response = auth_client.post(f"/api/v1/deployments/{deployment.slug}/rollback/")
    assert response.status_code == 409
    assert "deleted" in response.json()["error"]["message"]
    history = _history(auth_client, deployment.slug)
    assert history[0]["from_version"] is None and history[0]["from_number"] == 1


def test_rollback_reaches_other_processes(
    project, make_version, deployment, django_capture_on_commit_callbacks
):
    """Another web process serves the rolled-back version from its next request: the
    rollback goes through the same generation token as every switch."""
    v1 = deployment.model_version
    v2 = make_version(project, "v2")
    other_process = ServingRegistry()
    with django_capture_on_commit_callbacks(execute=True):
        deployment_switch(deployment=deployment, model_version_id=v2.pk)
    other_process.refresh()
    assert other_process.deployment(deployment.slug).model_version_id == v2.pk
    with django_capture_on_commit_callbacks(execute=True):
        deployment_rollback(deployment=deployment)
    other_process.refresh()
    assert other_process.deployment(deployment.slug).model_version_id == v1.pk


def test_others_cannot_read_history_or_roll_back(other_client, project, make_version, deployment):
    deployment_switch(deployment=deployment, model_version_id=make_version(project, "v2").pk)
    assert other_client.get(f"/api/v1/deployments/{deployment.slug}/history/").status_code == 404
    assert other_client.post(f"/api/v1/deployments/{deployment.slug}/rollback/").status_code == 404
    deployment.refresh_from_db()
    assert deployment.model_version.number == 2
