"""Reads for training: jobs, model versions and cached embeddings. A job or model version is
visible to its project's owner only; for anyone else it does not exist (404)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from django.db.models import QuerySet
from django.http import Http404

from apps.projects.models import Project
from apps.training.models import Embedding, ModelVersion, TrainingJob

# Stays under SQLite's limit on query parameters with room to spare.
ID_CHUNK = 900


def training_job_list(*, project: Project) -> QuerySet[TrainingJob]:
    # The snapshot and the log can be large; lists never show them.
    return TrainingJob.objects.filter(project=project).defer("snapshot", "log").order_by("-id")


def training_job_get_for_user(*, user, job_id: Any) -> TrainingJob:
    """A training job of one of the user's projects, or 404."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("Training job not found.")
    try:
        return TrainingJob.objects.select_related("project").get(id=job_id, project__owner=user)
    except (TrainingJob.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Training job not found.") from exc


def training_job_active(*, project: Project) -> TrainingJob | None:
    """The project's queued or running job, if any."""
    return (
        TrainingJob.objects.filter(project=project, status__in=TrainingJob.ACTIVE)
        .order_by("-id")
        .first()
    )


def model_version_list(*, project: Project) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project=project).defer("snapshot").order_by("-number")


def model_version_get_for_user(*, user, version_id: Any) -> ModelVersion:
    """A model version of one of the user's projects, or 404."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("Model not found.")
    try:
        return ModelVersion.objects.select_related("project").get(
            id=version_id, project__owner=user
        )
    except (ModelVersion.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Model not found.") from exc


def embedding_vectors(*, image_ids: Iterable[int], backbone: str) -> dict[int, np.ndarray]:
    """The cached embeddings of these images (those that have one), by image id."""
    ids = list(dict.fromkeys(image_ids))
    found: dict[int, np.ndarray] = {}
    for start in range(0, len(ids), ID_CHUNK):
        rows = Embedding.objects.filter(
            image_id__in=ids[start : start + ID_CHUNK], backbone=backbone
        ).values_list("image_id", "vector")
        for image_id, vector in rows:
            found[image_id] = np.frombuffer(bytes(vector), dtype=np.float32)
    return found


def embedding_ids(*, image_ids: Iterable[int], backbone: str) -> set[int]:
    """Which of these images already have an embedding (without reading the vectors)."""
    ids = list(dict.fromkeys(image_ids))
    found: set[int] = set()
    for start in range(0, len(ids), ID_CHUNK):
        found.update(
            Embedding.objects.filter(
                image_id__in=ids[start : start + ID_CHUNK], backbone=backbone
            ).values_list("image_id", flat=True)
        )
    return found
