"""Reads for training: jobs, model versions and cached embeddings. A job or model version is
visible to its project's owner only; for anyone else it does not exist (404)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber
from django.http import Http404

from apps import ml
from apps.projects.models import Project
from apps.training.models import ACCURATE_BACKBONE, Embedding, ModelVersion, TrainingJob

# Stays under SQLite's limit on query parameters with room to spare.
ID_CHUNK = 900


def training_job_list(*, project: Project) -> QuerySet[TrainingJob]:
    # The snapshot and the log can be large; lists never show them.
    return (
        TrainingJob.objects.filter(project=project)
        .defer("snapshot", "log")
        .annotate(number=Window(RowNumber(), order_by=F("id").asc()))
        .order_by("-id")
    )


def training_job_number(*, job: TrainingJob) -> int:
    """The job's place among its project's training runs, 1 for the first: what the pages
    call it ("Training run #1"). Ids count every project of every user on the server."""
    annotated = getattr(job, "number", None)
    if annotated is not None:
        return int(annotated)
    return TrainingJob.objects.filter(project_id=job.project_id, id__lte=job.pk).count()


def training_job_get_for_user(*, user: Any, job_id: Any) -> TrainingJob:
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


def model_version_get_for_user(*, user: Any, version_id: Any) -> ModelVersion:
    """A model version of one of the user's projects, or 404."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("Model not found.")
    try:
        return ModelVersion.objects.select_related("project").get(
            id=version_id, project__owner=user
        )
    except (ModelVersion.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404("Model not found.") from exc


# A 95 % interval wider than this (in accuracy, 0..1) is too wide to tell models apart or to
# say a target is met: the user is asked for more labelled images.
INTERVAL_TOO_WIDE = 0.10


def accuracy_interval_of(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The 95 % (Wilson) interval of ``metrics``' accuracy from the number of test images it
    was measured on, or None when the metrics have no count (a job still running)."""
    count, accuracy = metrics.get("count"), metrics.get("accuracy")
    if not isinstance(count, int) or count <= 0 or not isinstance(accuracy, int | float):
        return None
    interval = ml.accuracy_interval(round(accuracy * count), count)
    return {
        "value": round(interval.value, 5),
        "low": round(interval.low, 5),
        "high": round(interval.high, 5),
        "images": interval.images,
        "too_few_images": interval.high - interval.low > INTERVAL_TOO_WIDE,
    }


def metrics_for_read(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """Stored metrics as the API shows them: versions trained before intervals were recorded
    get theirs computed from their count and accuracy."""
    metrics = dict(metrics or {})
    if "accuracy_interval" not in metrics:
        interval = accuracy_interval_of(metrics)
        if interval is not None:
            metrics["accuracy_interval"] = interval
    return metrics


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


def ingest_backbones(*, project_id: int) -> list[str]:
    """The backbones whose embeddings a new image of the project gets at upload: the
    project's own (fast mode, data health), and Lite2 once the project has trained in
    accurate mode, so its next accurate run finds them cached instead of computing them."""
    project = Project.objects.filter(pk=project_id).only("backbone").first()
    if project is None:
        return []
    backbones = [project.backbone]
    uses_accurate = TrainingJob.objects.filter(
        project_id=project_id, mode=TrainingJob.Mode.ACCURATE
    ).exclude(status=TrainingJob.Status.CANCELLED)
    if ACCURATE_BACKBONE not in backbones and uses_accurate.exists():
        backbones.append(ACCURATE_BACKBONE)
    return backbones
