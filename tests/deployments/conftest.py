"""Fixtures for the deployment tests: two real model versions (trained in quick mode on a few
hymenoptera images through apps.ml, exported to ONNX once per session), a deployment and
an API key."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.deployments.serving.registry import registry
from apps.deployments.serving.throttling import local_counters
from tests.factories import ProjectFactory

BACKBONE = "efficientnet_lite0"
LABELS = ("ants", "bees")
TRAIN_PER_CLASS = 8


@dataclass(frozen=True)
class TrainedModel:
    """One quick-mode model: its ONNX graph and the torch classifier it was exported from."""

    onnx: bytes
    head: bytes
    classifier: object  # torch nn.Module: preprocessed images -> probabilities
    seed: int


def _jpegs(folder: Path, count: int) -> list[Path]:
    return sorted(folder.glob("*.jpg"))[:count]


@pytest.fixture(scope="session")
def trained_models() -> dict[str, TrainedModel]:
    """Two versions ("v1", "v2") that differ in their training seed and steps, built once
    per session the way quick training builds them (apps.ml: embed, fit_quick, the ONNX
    graph composed from the cached backbone graph and the head), with the torch classifier
    (build_classifier) the same head gives, for comparing answers."""
    from apps.ml import (
        QuickSpec,
        build_classifier,
        compose_classifier_onnx,
        embed,
        fit_quick,
        open_image,
        save_state,
    )
    from tests.conftest import HYMENOPTERA

    pictures, targets = [], []
    for index, label in enumerate(LABELS):
        for path in _jpegs(HYMENOPTERA / "train" / label, TRAIN_PER_CLASS):
            pictures.append(open_image(path.read_bytes(), max_pixels=40_000_000).image)
            targets.append(index)
    features = embed(pictures, backbone=BACKBONE)
    y = np.asarray(targets)
    models: dict[str, TrainedModel] = {}
    for name, seed, steps in (("v1", 0, 100), ("v2", 1, 5)):
        spec = QuickSpec(backbone=BACKBONE, labels=LABELS, steps=steps, seed=seed)
        result = fit_quick(features, y, spec=spec)
        head = io.BytesIO()
        save_state(result.head_state, head)
        models[name] = TrainedModel(
            onnx=compose_classifier_onnx(BACKBONE, result.head_state),
            head=head.getvalue(),
            classifier=build_classifier(BACKBONE, len(LABELS), head_state=result.head_state),
            seed=seed,
        )
    return models


@pytest.fixture(autouse=True)
def _fresh_serving_state(settings):
    """Each test starts with no loaded models, no cached deployments or keys, no rate-limit
    counters, and writes its prediction log in the request (no background thread)."""
    settings.PREDICTION_LOG_BACKGROUND = False
    settings.PREDICTION_ROW_WAIT = 0.1
    cache.clear()
    local_counters.clear()
    registry.unload_all()
    registry.forget()
    yield
    registry.unload_all()
    registry.forget()


@pytest.fixture
def project(user):
    return ProjectFactory(owner=user, name="Ants or bees", labels=list(LABELS))


@pytest.fixture
def make_version(trained_models):
    """``make_version(project, "v1")``: a ModelVersion row whose files are in storage."""
    from apps.training.models import ModelVersion

    def make(project, which: str = "v1", *, number: int | None = None) -> ModelVersion:
        model = trained_models[which]
        number = number or (ModelVersion.objects.filter(project=project).count() + 1)
        folder = f"models/{project.pk}/v{number}"
        onnx_name = default_storage.save(f"{folder}/model.onnx", ContentFile(model.onnx))
        head_name = default_storage.save(f"{folder}/head.pt", ContentFile(model.head))
        return ModelVersion.objects.create(
            project=project,
            number=number,
            backbone=BACKBONE,
            mode="quick",
            labels=list(LABELS),
            metrics={"accuracy": 0.9 if which == "v1" else 0.8},
            onnx_file=onnx_name,
            head_file=head_name,
        )

    return make


@pytest.fixture
def version(project, make_version):
    return make_version(project, "v1")


@pytest.fixture
def deployment(project, version, user):
    from apps.deployments.services import deployment_create

    return deployment_create(project=project, model_version_id=version.pk, created_by=user)


@pytest.fixture
def api_key(deployment) -> str:
    from apps.deployments.services import api_key_create

    _, key = api_key_create(deployment=deployment, name="tests")
    return key


@pytest.fixture
def key_client(api_key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")
    return client


@pytest.fixture
def ant_jpeg(hymenoptera) -> bytes:
    return _jpegs(hymenoptera / "val" / "ants", 1)[0].read_bytes()


@pytest.fixture
def bee_jpeg(hymenoptera) -> bytes:
    return _jpegs(hymenoptera / "val" / "bees", 1)[0].read_bytes()


def upload(data: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def png_bytes(size: tuple[int, int] = (40, 30), color=(200, 30, 30)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()
