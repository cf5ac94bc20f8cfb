"""A deployment serves its version's fp32 or int8 graph ("precision"), and says which."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps import ml
from apps.deployments.models import Deployment
from apps.deployments.serving.registry import registry
from tests.conftest import HYMENOPTERA
from tests.deployments.conftest import BACKBONE, LABELS, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def int8_onnx(trained_models) -> bytes:
    """v1's graph quantized on a few training photos, as the training job does."""
    pictures = [
        ml.open_image(path.read_bytes(), max_pixels=10**8).image
        for label in LABELS
        for path in sorted((HYMENOPTERA / "train" / label).glob("*.jpg"))[8:14]
    ]
    arrays = ml.preprocess_batch(pictures, BACKBONE)
    return ml.quantize_classifier(trained_models["v1"].onnx, ml.batched(list(arrays), 4))


@pytest.fixture
def int8_version(version, int8_onnx):
    name = default_storage.save(
        f"models/{version.project_id}/v{version.number}/model.int8.onnx", ContentFile(int8_onnx)
    )
    version.int8_onnx_file = name
    version.metrics = {**version.metrics, "int8": {"accuracy": 0.9}}
    version.save(update_fields=["int8_onnx_file", "metrics"])
    return version


def _deployments_url(project) -> str:
    return f"/api/v1/projects/{project.pk}/deployments/"


def _evaluated(graph: bytes, jpeg: bytes) -> np.ndarray:
    """The probabilities the compression's evaluation computes for this picture."""
    picture = ml.open_image(jpeg, max_pixels=10**8).image
    return ml.onnx_probabilities(graph, [ml.preprocess_batch([picture], BACKBONE)])[0]


def _probabilities(answer: dict) -> np.ndarray:
    scores = {row["label"]: row["confidence"] for row in answer["predictions"]}
    return np.asarray([scores[label] for label in LABELS])


def test_an_int8_deployment_answers_as_the_int8_evaluation(
    auth_client, project, int8_version, int8_onnx, trained_models, bee_jpeg
):
    response = auth_client.post(
        _deployments_url(project),
        {"model_version": int8_version.pk, "precision": "int8"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    deployment = response.json()
    assert deployment["precision"] == "int8"
    assert deployment["model_version"]["precisions"] == ["fp32", "int8"]

    answer = auth_client.post(
        f"/api/v1/deployments/{deployment['slug']}/try/",
        {"image": upload(bee_jpeg)},
        format="multipart",
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json()["precision"] == "int8"
    got = _probabilities(answer.json())
    np.testing.assert_allclose(got, _evaluated(int8_onnx, bee_jpeg), atol=1e-4)
    # ... and it is not the fp32 graph answering under another name.
    assert np.abs(got - _evaluated(trained_models["v1"].onnx, bee_jpeg)).max() > 1e-4


def test_switching_precision_with_patch_changes_the_graph_that_answers(
    auth_client, deployment, int8_version, int8_onnx, trained_models, ant_jpeg
):
    url = f"/api/v1/deployments/{deployment.slug}/"
    try_url = f"{url}try/"
    fp32 = auth_client.post(try_url, {"image": upload(ant_jpeg)}, format="multipart").json()
    assert fp32["precision"] == "fp32"
    np.testing.assert_allclose(
        _probabilities(fp32), _evaluated(trained_models["v1"].onnx, ant_jpeg), atol=1e-4
    )

    response = auth_client.patch(url, {"precision": "int8"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["precision"] == "int8"
    assert Deployment.objects.get(pk=deployment.pk).precision == "int8"
    int8 = auth_client.post(try_url, {"image": upload(ant_jpeg)}, format="multipart").json()
    assert int8["precision"] == "int8"
    np.testing.assert_allclose(_probabilities(int8), _evaluated(int8_onnx, ant_jpeg), atol=1e-4)
    # Both graphs of the version were loaded, each once.
    assert registry.loaded_versions() == [int8_version.pk, int8_version.pk]


def test_int8_is_refused_for_a_version_without_an_int8_file(auth_client, project, version):
    response = auth_client.post(
        _deployments_url(project), {"model_version": version.pk, "precision": "int8"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "invalid_precision"
    assert "has no int8 model" in body["message"]
    assert not Deployment.objects.filter(project=project).exists()


def test_the_reason_quantization_failed_is_in_the_refusal(auth_client, deployment, version):
    version.metrics = {**version.metrics, "int8": {"error": "INT8 compression failed: boom"}}
    version.save(update_fields=["metrics"])
    response = auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"precision": "int8"}, format="json"
    )
    assert response.status_code == 400
    assert "boom" in response.json()["error"]["message"]
    assert Deployment.objects.get(pk=deployment.pk).precision == "fp32"


def test_int8_is_refused_while_the_copy_is_being_made(auth_client, deployment, version):
    version.metrics = {**version.metrics, "int8": {"status": "compressing"}}
    version.save(update_fields=["metrics"])
    response = auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"precision": "int8"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_precision"
    assert "still being made" in response.json()["error"]["message"]


def test_an_unknown_precision_is_refused(auth_client, deployment):
    response = auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"precision": "fp16"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_precision"


def test_switching_an_int8_deployment_to_a_version_without_int8_is_refused(
    auth_client, project, make_version, int8_version
):
    response = auth_client.post(
        _deployments_url(project),
        {"model_version": int8_version.pk, "precision": "int8"},
        format="json",
    )
    slug = response.json()["slug"]
    other = make_version(project, "v2")
    response = auth_client.patch(
        f"/api/v1/deployments/{slug}/", {"model_version": other.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_precision"
    # Both together are fine: the new version in fp32.
    response = auth_client.patch(
        f"/api/v1/deployments/{slug}/",
        {"model_version": other.pk, "precision": "fp32"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["precision"] == "fp32"
    assert response.json()["model_version"]["id"] == other.pk
