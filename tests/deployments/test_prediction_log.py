"""The prediction log: what is recorded, listing it, and adding a logged image to the data set."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.storage import default_storage

from apps.datasets.models import Image
from apps.deployments.models import PredictionLog
from apps.labeling.models import LabelEvent
from tests.deployments.conftest import upload

pytestmark = pytest.mark.django_db


def _predict(client, deployment, data: bytes):
    response = client.post(
        f"/api/v1/predict/{deployment.slug}/", {"image": upload(data)}, format="multipart"
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_every_prediction_is_logged(key_client, deployment, ant_jpeg):
    answer = _predict(key_client, deployment, ant_jpeg)
    row = PredictionLog.objects.get(uid=answer["id"])
    assert row.deployment_id == deployment.pk
    assert row.model_version_id == deployment.model_version_id
    assert row.label == answer["prediction"]["label"]
    assert row.confidence == pytest.approx(answer["prediction"]["confidence"])
    assert row.predictions == answer["predictions"]
    assert row.uncertain == answer["uncertain"]
    assert row.latency_ms == pytest.approx(answer["latency_ms"])
    assert row.source == PredictionLog.Source.API
    assert row.created_at is not None
    # The image itself, byte for byte.
    with default_storage.open(row.image.name, "rb") as handle:
        assert handle.read() == ant_jpeg
    assert len(row.image_sha256) == 64


def test_images_are_not_kept_when_store_images_is_off(
    auth_client, key_client, deployment, ant_jpeg
):
    auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"store_images": False}, format="json"
    )
    answer = _predict(key_client, deployment, ant_jpeg)
    row = PredictionLog.objects.get(uid=answer["id"])
    assert row.image.name == ""
    response = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/predictions/{answer['id']}/add-to-dataset/",
        {"label": "ants"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "image_not_stored"


def test_list_newest_first_with_uncertain_filter(
    auth_client, other_client, key_client, deployment, ant_jpeg, bee_jpeg
):
    first = _predict(key_client, deployment, ant_jpeg)
    auth_client.patch(f"/api/v1/deployments/{deployment.slug}/", {"threshold": 1.0}, format="json")
    second = _predict(key_client, deployment, bee_jpeg)  # everything is uncertain now
    assert second["uncertain"] is True

    listed = auth_client.get(f"/api/v1/deployments/{deployment.slug}/predictions/")
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 2
    assert [p["id"] for p in body["results"]] == [second["id"], first["id"]]
    item = body["results"][0]
    assert item["label"] == second["prediction"]["label"]
    assert item["model_version"] == deployment.model_version_id
    assert item["image_url"].startswith("http://testserver/media/predictions/")
    assert item["added_image"] is None
    # The logged image itself: for the deployment's owner only.
    assert auth_client.get(item["image_url"]).status_code == 200
    assert other_client.get(item["image_url"]).status_code == 404

    uncertain = auth_client.get(
        f"/api/v1/deployments/{deployment.slug}/predictions/?uncertain=true"
    ).json()
    assert [p["id"] for p in uncertain["results"]] == [second["id"]]
    if not first["uncertain"]:
        certain = auth_client.get(
            f"/api/v1/deployments/{deployment.slug}/predictions/?uncertain=false"
        ).json()
        assert [p["id"] for p in certain["results"]] == [first["id"]]
    bad = auth_client.get(f"/api/v1/deployments/{deployment.slug}/predictions/?uncertain=maybe")
    assert bad.status_code == 400


def test_add_to_dataset_is_idempotent(auth_client, key_client, deployment, project, user, ant_jpeg):
    answer = _predict(key_client, deployment, ant_jpeg)
    url = f"/api/v1/deployments/{deployment.slug}/predictions/{answer['id']}/add-to-dataset/"
    response = auth_client.post(url, {"label": "ants"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True and body["label"] == "ants"
    image = Image.objects.get(pk=body["image"])
    assert image.project_id == project.pk
    assert image.source == Image.Source.PREDICTION
    assert image.label.name == "ants"
    assert image.uploaded_by == user
    event = LabelEvent.objects.get(image=image)
    assert event.source == LabelEvent.Source.PREDICTION
    assert event.new_label_name == "ants"
    with default_storage.open(image.original.name, "rb") as handle:
        assert handle.read() == ant_jpeg
    assert PredictionLog.objects.get(uid=answer["id"]).added_image_id == image.pk

    again = auth_client.post(url, {"label": "ants"}, format="json")
    assert again.status_code == 200
    assert again.json() | {"created": None} == body | {"created": None, "duplicate": True}
    assert Image.objects.filter(project=project).count() == 1

    # The same picture predicted again is already in the data set: no second copy either.
    repeat = _predict(key_client, deployment, ant_jpeg)
    third = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/predictions/{repeat['id']}/add-to-dataset/",
        {"label": "ants"},
        format="json",
    )
    assert third.status_code == 200
    assert third.json()["image"] == image.pk
    assert Image.objects.filter(project=project).count() == 1


def test_add_to_dataset_needs_a_project_label(auth_client, key_client, deployment, ant_jpeg):
    answer = _predict(key_client, deployment, ant_jpeg)
    response = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/predictions/{answer['id']}/add-to-dataset/",
        {"label": "wasps"},
        format="json",
    )
    assert response.status_code == 400
    assert "ants, bees" in response.json()["error"]["message"]
    assert not Image.objects.exists()


def test_add_to_dataset_unknown_prediction_is_404(auth_client, deployment):
    for prediction_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = auth_client.post(
            f"/api/v1/deployments/{deployment.slug}/predictions/{prediction_id}/add-to-dataset/",
            {"label": "ants"},
            format="json",
        )
        assert response.status_code == 404


def test_add_to_dataset_is_owner_only(other_client, key_client, deployment, ant_jpeg):
    answer = _predict(key_client, deployment, ant_jpeg)
    response = other_client.post(
        f"/api/v1/deployments/{deployment.slug}/predictions/{answer['id']}/add-to-dataset/",
        {"label": "ants"},
        format="json",
    )
    assert response.status_code == 404
    assert not Image.objects.exists()


def test_prediction_of_another_deployment_is_404(
    auth_client, key_client, deployment, project, version, ant_jpeg
):
    from apps.deployments.services import deployment_create

    other = deployment_create(project=project, model_version_id=version.pk)
    answer = _predict(key_client, deployment, ant_jpeg)
    response = auth_client.get(f"/api/v1/deployments/{other.slug}/predictions/{answer['id']}/")
    assert response.status_code == 404
    ok = auth_client.get(f"/api/v1/deployments/{deployment.slug}/predictions/{answer['id']}/")
    assert ok.status_code == 200


def test_deleting_a_deployment_deletes_its_stored_images(
    auth_client, key_client, deployment, ant_jpeg, django_capture_on_commit_callbacks
):
    answer = _predict(key_client, deployment, ant_jpeg)
    name = PredictionLog.objects.get(uid=answer["id"]).image.name
    assert name.startswith(f"predictions/{deployment.slug}/")
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.delete(f"/api/v1/deployments/{deployment.slug}/")
    assert response.status_code == 204
    assert not default_storage.exists(name)
    assert not PredictionLog.objects.exists()
