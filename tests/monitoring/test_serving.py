"""Through the prediction API: each prediction of a version with a reference keeps its drift
sketch (the same projection the drift check fits), a failed request is counted, a refused
one is not."""

from __future__ import annotations

import numpy as np
import pytest
from rest_framework.test import APIClient

from apps import ml
from apps.deployments.models import PredictionLog
from apps.deployments.serving.registry import registry
from apps.monitoring.reference import drift_reference
from tests.deployments.conftest import (  # noqa: F401 - fixtures
    _fresh_serving_state,
    ant_jpeg,
    api_key,
    deployment,
    key_client,
    make_version,
    project,
    trained_models,
    upload,
    version,
)
from tests.deployments.test_ood import ood_version, training_embeddings  # noqa: F401

pytestmark = pytest.mark.django_db


def test_predictions_keep_a_sketch_that_matches_the_monitoring_reference(
    ood_version,  # noqa: F811
    deployment,  # noqa: F811
    key_client,  # noqa: F811
    ant_jpeg,  # noqa: F811
    auth_client,
):
    response = key_client.post(
        f"/api/v1/predict/{deployment.slug}/", {"image": upload(ant_jpeg)}, format="multipart"
    )
    assert response.status_code == 200, response.content
    row = PredictionLog.objects.get(uid=response.json()["id"])
    reference = drift_reference(ood_version.ood_file.name)
    assert reference is not None
    sketch = ml.sketches_from_bytes([row.sketch], reference.projection.dims)[0]
    runner = registry.runner(registry.deployment(deployment.slug))
    picture = ml.open_image(ant_jpeg, max_pixels=40_000_000).image
    _, features = runner.predict_arrays_with_features(
        ml.preprocess_batch([picture], "efficientnet_lite0")
    )
    np.testing.assert_allclose(sketch, reference.projection.project(features)[0], atol=0.02)
    # Serving and monitoring fitted the same projection on the same file.
    np.testing.assert_allclose(runner.drift.weights, reference.projection.weights, atol=1e-5)
    # A broken image is a failed request; a wrong key is a refusal, not counted.
    broken = key_client.post(
        f"/api/v1/predict/{deployment.slug}/",
        {"image": upload(b"not an image")},
        format="multipart",
    )
    assert broken.status_code == 400
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Api-Key wrong.key")
    assert stranger.post(f"/api/v1/predict/{deployment.slug}/", {}).status_code == 401
    totals = auth_client.get(f"/api/v1/deployments/{deployment.slug}/monitoring/").json()["totals"]
    assert totals["requests"] == 1 and totals["failed_requests"] == 1


def test_a_version_without_a_reference_logs_no_sketch(deployment, key_client, ant_jpeg):  # noqa: F811
    response = key_client.post(
        f"/api/v1/predict/{deployment.slug}/", {"image": upload(ant_jpeg)}, format="multipart"
    )
    assert response.status_code == 200
    assert PredictionLog.objects.get(uid=response.json()["id"]).sketch is None
