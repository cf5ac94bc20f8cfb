"""Writes for data health: asking for a report, and keeping what the user dismissed."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from apps.core.exceptions import ApplicationError
from apps.core.jobs import job_dispatch
from apps.datasets.models import Image
from apps.projects.models import Project
from apps.training.models import HealthDismissal, HealthJob

logger = logging.getLogger(__name__)


def health_job_request(*, project: Project) -> HealthJob:
    """Queue a fresh report of the project (its message leaves after the commit). A job that
    is still queued already answers the request (it reads the data when it starts), so
    repeated clicks queue one job; one that is running computes the data as it was when it
    started, so a new one is queued behind it."""
    with transaction.atomic():
        # Serialises concurrent requests for the project (as training_job_create does).
        Project.objects.select_for_update().filter(pk=project.pk).first()
        queued = (
            HealthJob.objects.filter(project=project, status=HealthJob.Status.QUEUED)
            .order_by("-id")
            .first()
        )
        if queued is not None:
            return queued
        job = HealthJob.objects.create(project=project)
        job_dispatch(job)
    return job


def health_after_training(*, project_id: int) -> HealthJob | None:
    """A new model version was recorded: its report starts now. Never fails the training it
    follows (a broker that does not answer only costs this report; it can be asked again)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    try:
        return health_job_request(project=project)
    except Exception:  # noqa: BLE001 - the model is saved; the report is a bonus
        logger.warning("could not queue the health report of project %s", project_id, exc_info=True)
        return None


def health_dismiss(*, project: Project, image_id: Any, kind: Any) -> HealthDismissal:
    """Keep an image as it is for one kind of issue. For a label issue the dismissal holds
    for the image's current label only. Idempotent."""
    if kind not in HealthDismissal.Kind.values:
        choices = ", ".join(f'"{value}"' for value in HealthDismissal.Kind.values)
        raise ApplicationError(
            f"Unknown kind {kind!r}: use one of {choices}.",
            code="invalid_kind",
            extra={"fields": {"kind": [f"Use one of {choices}."]}},
        )
    try:
        image = Image.objects.filter(project=project, pk=int(image_id)).first()
    except (TypeError, ValueError):
        image = None
    if image is None:
        raise ApplicationError(
            f"This project has no image {image_id!r}.",
            code="invalid_image",
            extra={"fields": {"image": ["No such image in this project."]}},
        )
    label_id = image.label_id if kind == HealthDismissal.Kind.LABEL else None
    if kind == HealthDismissal.Kind.LABEL and label_id is None:
        raise ApplicationError(
            "This image has no label, so there is no label to keep.",
            code="image_unlabelled",
        )
    dismissal, _ = HealthDismissal.objects.get_or_create(
        image=image, kind=kind, label=image.label if label_id is not None else None
    )
    return dismissal
