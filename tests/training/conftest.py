"""Fixtures for the training tests: projects with real (hymenoptera) or random images."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.training.models import ModelVersion, TrainingJob
from tests.factories import ImageFactory, ProjectFactory


@pytest.fixture
def project(user):
    """alice's project with the labels ants and bees."""
    return ProjectFactory(owner=user, name="Ants or bees", labels=["ants", "bees"])


def real_images(folder: Path, count: int) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[:count]


def add_real_images(project, hymenoptera: Path, *, split_counts: dict[str, int], offset: int = 0):
    """Store real ants/bees photos: ``split_counts`` images of each label per split
    (train and test come from hymenoptera's train/, val from val/). Returns the images."""
    created = []
    for label in ("ants", "bees"):
        used = {"train": offset, "val": offset}
        for split, count in split_counts.items():
            source = "val" if split == "val" else "train"
            paths = real_images(hymenoptera / source / label, used[source] + count)
            for path in paths[used[source] :]:
                created.append(
                    ImageFactory(
                        project=project,
                        label=label,
                        split=split,
                        data=path.read_bytes(),
                        filename=path.name,
                    )
                )
            used[source] += count
    return created


@pytest.fixture
def labeled_project(project):
    """Three random images per label, all in train (enough to pass the checks)."""
    for label in ("ants", "bees"):
        ImageFactory.create_batch(3, project=project, label=label, split="train")
    return project


@pytest.fixture
def model_version(project):
    """A stored model version with small stand-in files (for API tests; no training)."""
    job = TrainingJob.objects.create(
        project=project,
        status=TrainingJob.Status.SUCCEEDED,
        progress=1.0,
        snapshot=[{"id": 1, "label": "ants", "split": "train"}],
    )
    folder = f"projects/{project.pk}/models/1"
    version = ModelVersion.objects.create(
        project=project,
        number=1,
        backbone="efficientnet_lite0",
        mode="quick",
        labels=["ants", "bees"],
        snapshot=job.snapshot,
        metrics={"accuracy": 0.9},
        onnx_file=default_storage.save(f"{folder}/model.onnx", ContentFile(b"onnx-bytes")),
        head_file=default_storage.save(f"{folder}/head.pt", ContentFile(b"head-bytes")),
        training_job=job,
    )
    job.model_version = version
    job.save(update_fields=["model_version"])
    return version
