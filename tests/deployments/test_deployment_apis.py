"""Deploying, switching, rolling back and stopping; API keys; who may see what."""

from __future__ import annotations

import pytest

from apps.deployments.models import Deployment, DeploymentApiKey
from apps.deployments.serving.registry import registry
from tests.deployments.conftest import upload
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _predict(client, slug: str, data: bytes):
    return client.post(f"/api/v1/predict/{slug}/", {"image": upload(data)}, format="multipart")


def test_deploy_a_model_version(auth_client, project, version):
    response = auth_client.post(
        f"/api/v1/projects/{project.pk}/deployments/",
        {"model_version": version.pk, "name": "Garden camera"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"].startswith("garden-camera-")
    assert body["predict_url"] == f"http://testserver/api/v1/predict/{body['slug']}/"
    assert body["model_version"]["id"] == version.pk
    assert body["model_version"]["number"] == 1
    assert body["model_version"]["accuracy"] == pytest.approx(0.9)
    assert body["threshold"] == pytest.approx(0.6)
    assert body["store_images"] is True
    assert body["rate_limit"] == "600/min"
    assert body["created_at"]
    # Deploying loads the model in this process: the first prediction loads nothing.
    assert version.pk in registry.loaded_versions()

    listed = auth_client.get(f"/api/v1/projects/{project.pk}/deployments/").json()
    assert [d["slug"] for d in listed["results"]] == [body["slug"]]
    detail = auth_client.get(f"/api/v1/deployments/{body['slug']}/")
    assert detail.status_code == 200
    assert detail.json()["name"] == "Garden camera"


def test_deploy_settings_on_create(auth_client, project, version):
    response = auth_client.post(
        f"/api/v1/projects/{project.pk}/deployments/",
        {
            "model_version": version.pk,
            "threshold": 0.8,
            "store_images": False,
            "rate_limit": "5/sec",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["threshold"], body["store_images"], body["rate_limit"]) == (0.8, False, "5/sec")


def test_model_version_of_another_project_is_refused(auth_client, project, user, make_version):
    other_project = ProjectFactory(owner=user, labels=["ants", "bees"])
    foreign = make_version(other_project, "v1")
    response = auth_client.post(
        f"/api/v1/projects/{project.pk}/deployments/",
        {"model_version": foreign.pk},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_model_version"
    assert not Deployment.objects.exists()


def test_unknown_model_version_is_refused(auth_client, project, version):
    response = auth_client.post(
        f"/api/v1/projects/{project.pk}/deployments/", {"model_version": 999999}, format="json"
    )
    assert response.status_code == 400
    assert "not a model version of this project" in response.json()["error"]["message"]


def test_a_broken_model_file_is_refused_not_deployed(auth_client, project, version):
    from django.core.files.storage import default_storage

    with default_storage.open(version.onnx_file.name, "wb") as handle:
        handle.write(b"not an onnx graph")
    response = auth_client.post(
        f"/api/v1/projects/{project.pk}/deployments/", {"model_version": version.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_unavailable"
    assert not Deployment.objects.exists()


def test_switch_and_roll_back(auth_client, project, make_version, deployment, key_client, ant_jpeg):
    v1 = deployment.model_version
    v2 = make_version(project, "v2")
    first = _predict(key_client, deployment.slug, ant_jpeg).json()
    assert first["model_version"] == v1.pk

    switched = auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"model_version": v2.pk}, format="json"
    )
    assert switched.status_code == 200, switched.content
    assert switched.json()["model_version"]["id"] == v2.pk
    second = _predict(key_client, deployment.slug, ant_jpeg).json()
    assert (second["model_version"], second["model_version_number"]) == (v2.pk, 2)
    # Two different models: the answers differ.
    assert second["predictions"] != first["predictions"]

    rolled_back = auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"model_version": v1.pk}, format="json"
    )
    assert rolled_back.status_code == 200
    third = _predict(key_client, deployment.slug, ant_jpeg).json()
    assert third["model_version"] == v1.pk
    assert third["predictions"] == first["predictions"]


def test_switch_to_another_projects_version_is_refused(auth_client, user, deployment, make_version):
    foreign = make_version(ProjectFactory(owner=user, labels=["ants", "bees"]), "v2")
    response = auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"model_version": foreign.pk}, format="json"
    )
    assert response.status_code == 400
    deployment.refresh_from_db()
    assert deployment.model_version_id != foreign.pk


def test_update_settings(auth_client, deployment):
    response = auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/",
        {"threshold": 0.9, "store_images": False, "rate_limit": "100/hour", "name": "Renamed"},
        format="json",
    )
    assert response.status_code == 200, response.content
    deployment.refresh_from_db()
    assert (deployment.threshold, deployment.store_images, deployment.rate_limit) == (
        0.9,
        False,
        "100/hour",
    )
    assert deployment.name == "Renamed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate_limit", "fast"),
        ("rate_limit", "0/min"),
        ("rate_limit", "10/week"),
        ("threshold", 1.5),
    ],
)
def test_invalid_settings_are_refused(auth_client, deployment, field, value):
    response = auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {field: value}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_delete_stops_the_deployment(auth_client, deployment, key_client, ant_jpeg):
    assert _predict(key_client, deployment.slug, ant_jpeg).status_code == 200
    response = auth_client.delete(f"/api/v1/deployments/{deployment.slug}/")
    assert response.status_code == 204
    gone = _predict(key_client, deployment.slug, ant_jpeg)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert auth_client.get(f"/api/v1/deployments/{deployment.slug}/").status_code == 404


def test_other_users_see_nothing(other_client, project, deployment, api_key):
    slug = deployment.slug
    assert other_client.get(f"/api/v1/projects/{project.pk}/deployments/").status_code == 404
    assert (
        other_client.post(
            f"/api/v1/projects/{project.pk}/deployments/",
            {"model_version": deployment.model_version_id},
            format="json",
        ).status_code
        == 404
    )
    assert other_client.get(f"/api/v1/deployments/{slug}/").status_code == 404
    assert (
        other_client.patch(
            f"/api/v1/deployments/{slug}/", {"threshold": 0.1}, format="json"
        ).status_code
        == 404
    )
    assert other_client.delete(f"/api/v1/deployments/{slug}/").status_code == 404
    assert other_client.get(f"/api/v1/deployments/{slug}/keys/").status_code == 404
    assert other_client.post(f"/api/v1/deployments/{slug}/keys/", {"name": "x"}).status_code == 404
    prefix = api_key.partition(".")[0]
    assert other_client.delete(f"/api/v1/deployments/{slug}/keys/{prefix}/").status_code == 404
    assert other_client.get(f"/api/v1/deployments/{slug}/predictions/").status_code == 404
    assert Deployment.objects.filter(slug=slug, threshold=0.6).exists()
    assert not DeploymentApiKey.objects.filter(revoked=True).exists()


def test_anonymous_is_refused(api_client, deployment):
    assert api_client.get(f"/api/v1/deployments/{deployment.slug}/").status_code in (401, 403)


# --- API keys ------------------------------------------------------------------------------


def test_create_list_and_revoke_keys(auth_client, deployment, ant_jpeg):
    created = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/keys/", {"name": "Phone app"}, format="json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) >= {"id", "name", "prefix", "key"}
    key = body["key"]
    assert key.startswith(body["prefix"] + ".")
    row = DeploymentApiKey.objects.get(prefix=body["prefix"])
    # Stored hashed only.
    assert key not in (row.hashed_key, row.id)
    assert row.hashed_key.startswith("sha512$$")

    listed = auth_client.get(f"/api/v1/deployments/{deployment.slug}/keys/").json()
    assert [k["prefix"] for k in listed] == [body["prefix"]]
    assert "key" not in listed[0]
    assert listed[0]["revoked"] is False and listed[0]["name"] == "Phone app"

    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert _predict(client, deployment.slug, ant_jpeg).status_code == 200  # now cached

    revoked = auth_client.delete(f"/api/v1/deployments/{deployment.slug}/keys/{body['id']}/")
    assert revoked.status_code == 204
    refused = _predict(client, deployment.slug, ant_jpeg)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"
    listed = auth_client.get(f"/api/v1/deployments/{deployment.slug}/keys/").json()
    assert listed[0]["revoked"] is True


def test_revocation_reaches_other_processes_through_the_generation(
    deployment, api_key, django_capture_on_commit_callbacks
):
    """Another web process learns of a revocation from the shared generation token."""
    from apps.deployments.services import api_key_revoke
    from apps.deployments.serving import ServingRegistry

    other_process = ServingRegistry()
    other_process.refresh()
    live = other_process.deployment(deployment.slug)
    assert other_process.key_matches(live, api_key)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=DeploymentApiKey.objects.get(prefix=api_key.partition(".")[0]))
    other_process.refresh()
    assert not other_process.key_matches(other_process.deployment(deployment.slug), api_key)


def test_key_needs_a_name(auth_client, deployment):
    response = auth_client.post(f"/api/v1/deployments/{deployment.slug}/keys/", {"name": " "})
    assert response.status_code == 400


def test_revoking_an_unknown_key_is_404(auth_client, deployment):
    assert (
        auth_client.delete(f"/api/v1/deployments/{deployment.slug}/keys/nope/").status_code == 404
    )


def test_a_serializer_error_has_the_code_the_service_gives_the_same_field(auth_client, deployment):
    """A threshold that is not a number was ``invalid`` (the serializer) while one out of
    range was ``invalid_threshold`` (the service): now both are ``invalid_threshold``."""
    url = f"/api/v1/deployments/{deployment.slug}/"
    not_a_number = auth_client.patch(url, {"threshold": "high"}, format="json").json()["error"]
    out_of_range = auth_client.patch(url, {"threshold": 1.5}, format="json").json()["error"]
    assert not_a_number["code"] == out_of_range["code"] == "invalid_threshold"
    assert set(not_a_number["fields"]) == {"threshold"}
    empty_name = auth_client.post(f"{url}keys/", {"name": ""}, format="json").json()["error"]
    blank_name = auth_client.post(f"{url}keys/", {"name": "   "}, format="json").json()["error"]
    assert empty_name["code"] == blank_name["code"] == "invalid_name"
