"""Out-of-distribution scores on predictions: the served graph's second output ("features")
scored against the model version's stored training embeddings."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps import ml
from apps.deployments.models import PredictionLog
from apps.deployments.serving.registry import registry
from apps.training.health.reference import ood_reference_bytes, ood_reference_load
from tests.deployments.conftest import BACKBONE, LABELS, png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def training_embeddings():
    from tests.conftest import HYMENOPTERA

    pictures = [
        ml.open_image(path.read_bytes(), max_pixels=40_000_000).image
        for label in LABELS
        # Every training photo: with a few dozen, the threshold (a high quantile of few
        # leave-one-out scores) flags about 15 % of ordinary val photos; with all, 2 %.
        for path in sorted((HYMENOPTERA / "train" / label).glob("*.jpg"))
    ]
    return ml.embed(pictures, backbone=BACKBONE)


@pytest.fixture
def ood_version(version, training_embeddings):
    version.ood_file = default_storage.save(
        f"models/{version.project_id}/v{version.number}/ood.npy",
        ContentFile(ood_reference_bytes(training_embeddings)),
    )
    version.save(update_fields=["ood_file"])
    return version


def _post(client, deployment, data: bytes, name: str = "photo.jpg"):
    url = f"/api/v1/predict/{deployment.slug}/"
    return client.post(url, {"image": upload(data, name)}, format="multipart")


def test_the_composed_graph_outputs_probabilities_then_the_embedding(trained_models, ant_jpeg):
    session = ort.InferenceSession(trained_models["v1"].onnx, providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["probabilities", "features"]
    picture = ml.open_image(ant_jpeg, max_pixels=40_000_000).image
    batch = ml.preprocess_batch([picture], BACKBONE)
    probabilities, features = session.run(None, {"input": batch})
    predictor = ml.Predictor.load(trained_models["v1"].onnx, labels=LABELS, backbone=BACKBONE)
    assert np.array_equal(predictor.predict_arrays(batch), probabilities)
    np.testing.assert_allclose(features, ml.embed([picture], backbone=BACKBONE), atol=1e-4)


def test_the_reference_is_unit_float16_rows(training_embeddings):
    data = ood_reference_bytes(training_embeddings)
    reference = ood_reference_load(data)
    assert reference.shape == training_embeddings.shape
    np.testing.assert_allclose(np.linalg.norm(reference, axis=1), 1.0, atol=1e-3)
    assert len(data) < training_embeddings.nbytes / 1.9  # float16


def test_predictions_carry_ood_fields_and_the_log_keeps_them(
    ood_version, deployment, key_client, bee_jpeg
):
    response = _post(key_client, deployment, bee_jpeg)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["out_of_distribution"] is False and 0.0 <= body["ood_score"] < 1.0
    # A flat red square is like no photo of ants or bees.
    stranger = _post(key_client, deployment, png_bytes((300, 300)), "red.png").json()
    assert stranger["out_of_distribution"] is True
    assert stranger["ood_score"] > body["ood_score"]
    logged = PredictionLog.objects.get(uid=stranger["id"])
    assert logged.out_of_distribution is True and logged.ood_score == stranger["ood_score"]
    # The scorer is built when the model loads, once, not per request.
    runner = registry.runner(registry.deployment(deployment.slug))
    scorer = runner.ood
    _post(key_client, deployment, bee_jpeg)
    assert registry.runner(registry.deployment(deployment.slug)).ood is scorer


def test_a_version_without_a_reference_answers_null(deployment, key_client, ant_jpeg, auth_client):
    body = _post(key_client, deployment, ant_jpeg).json()
    assert body["out_of_distribution"] is None and body["ood_score"] is None
    rows = auth_client.get(f"/api/v1/deployments/{deployment.slug}/predictions/").json()
    assert rows["results"][0]["out_of_distribution"] is None
    assert rows["results"][0]["ood_score"] is None


def test_a_batch_answers_ood_per_image(ood_version, deployment, key_client, ant_jpeg):
    response = key_client.post(
        f"/api/v1/predict/{deployment.slug}/",
        {"images": [upload(ant_jpeg), upload(png_bytes((300, 300)), "red.png", "image/png")]},
        format="multipart",
    )
    assert response.status_code == 200, response.content
    flags = [r["out_of_distribution"] for r in response.json()["results"]]
    assert flags == [False, True]
