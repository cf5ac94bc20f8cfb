"""Fixtures for the monitoring tests: a deployment whose version has a drift reference
(synthetic embeddings with a few strong directions, stored as serving stores them), and
prediction log rows with sketches made by the same projection."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from apps import ml
from apps.deployments.models import Deployment, PredictionLog
from apps.monitoring.reference import drift_reference
from apps.training.health.reference import ood_reference_bytes
from apps.training.models import ModelVersion
from tests.factories import ProjectFactory

LABELS = ("ants", "bees")


def embeddings(rng: np.random.Generator, n: int, *, shift: float = 0.0) -> np.ndarray:
    base = np.zeros(64)
    base[0] = 4.0
    spread = np.concatenate([np.full(8, 1.0), np.full(56, 0.2)])
    x = base + rng.normal(size=(n, 64)) * spread
    x[:, 4] += shift
    return x.astype(np.float32)


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.PREDICTION_LOG_BACKGROUND = False
    cache.clear()
    drift_reference.cache_clear()
    yield
    drift_reference.cache_clear()


@pytest.fixture
def reference_embeddings() -> np.ndarray:
    return embeddings(np.random.default_rng(0), 500)


@pytest.fixture
def monitored(user, reference_embeddings) -> Deployment:
    project = ProjectFactory(owner=user, name="Ants or bees", labels=list(LABELS))
    ood = default_storage.save(
        f"models/{project.pk}/v1/ood.npy", ContentFile(ood_reference_bytes(reference_embeddings))
    )
    version = ModelVersion.objects.create(
        project=project,
        number=1,
        backbone="efficientnet_lite0",
        mode="quick",
        labels=list(LABELS),
        metrics={},
        onnx_file=f"models/{project.pk}/v1/model.onnx",
        head_file=f"models/{project.pk}/v1/head.pt",
        ood_file=ood,
        snapshot=[{"id": k, "label": LABELS[k % 2], "split": "train"} for k in range(100)],
    )
    return Deployment.objects.create(project=project, slug="ants-or-bees", model_version=version)


@pytest.fixture
def log_predictions(monitored):
    """``log_predictions(features, start=...)``: one logged prediction per row, a second
    apart, with the sketch serving would store."""
    reference = drift_reference(monitored.model_version.ood_file.name)
    assert reference is not None

    def log(features: np.ndarray, *, start=None, label: str = "ants", image: str = "x.jpg"):
        start = start or timezone.now() - timedelta(seconds=len(features) + 5)
        sketches = reference.projection.project(features)
        rows = [
            PredictionLog(
                uid=uuid.uuid4(),
                deployment=monitored,
                model_version=monitored.model_version,
                label=label if k % 2 == 0 else "bees",
                confidence=0.9,
                predictions=[],
                uncertain=False,
                out_of_distribution=False,
                ood_score=0.1,
                sketch=ml.sketch_to_bytes(row),
                latency_ms=10.0 + k % 7,
                image=image,
                created_at=start + timedelta(seconds=k),
            )
            for k, row in enumerate(sketches)
        ]
        PredictionLog.objects.bulk_create(rows)
        return rows

    return log
