"""Reads for data health: the report as the API shows it (dismissed issues and deleted
images left out at read time) and the "label next" suggestions."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from apps.datasets.models import Image
from apps.projects.models import Project
from apps.training.models import HealthDismissal, HealthJob

STATUS_OF_JOB: dict[str, str] = {
    HealthJob.Status.QUEUED: "computing",
    HealthJob.Status.RUNNING: "computing",
    HealthJob.Status.SUCCEEDED: "ready",
    HealthJob.Status.FAILED: "failed",
    HealthJob.Status.CANCELLED: "failed",
}


def _latest(project: Project) -> tuple[HealthJob | None, HealthJob | None]:
    """(the newest job, the newest succeeded one: the report)."""
    newest = (
        HealthJob.objects.filter(project=project)
        .only("id", "status", "error")
        .order_by("-id")
        .first()
    )
    ready = (
        HealthJob.objects.filter(project=project, status=HealthJob.Status.SUCCEEDED)
        .select_related("model_version")
        .order_by("-id")
        .first()
    )
    return newest, ready


def _images(project: Project) -> dict[int, tuple[int | None, str | None]]:
    """image id -> (label id, label name) of every image the project still has."""
    rows = Image.objects.filter(project=project).values_list("id", "label_id", "label__name")
    return {image_id: (label_id, name) for image_id, label_id, name in rows}


def _with_neighbours(
    item: dict[str, Any], images: dict[int, tuple[int | None, str | None]]
) -> dict[str, Any]:
    """The item with its stored nearest neighbours as they are now: each with its current
    label, deleted ones left out. Reports computed before neighbours existed have none."""
    if "neighbours" not in item:
        return item
    return {
        **item,
        "neighbours": [
            {"image": n["image"], "label": images[n["image"]][1], "similarity": n["similarity"]}
            for n in item["neighbours"]
            if n["image"] in images
        ],
    }


def health_report_get(*, project: Project) -> dict[str, Any]:
    """The API's answer for the project's data health (see ``health_apis``)."""
    newest, ready = _latest(project)
    answer: dict[str, Any] = {
        "status": "none" if newest is None else STATUS_OF_JOB[newest.status],
        "error": newest.error if newest is not None else "",
        "model_version": None,
        "model_version_number": None,
        "computed_at": None,
        "cv_accuracy": None,
        "label_issues": [],
        "near_duplicates": [],
        "outliers": [],
    }
    if ready is None:
        return answer
    version = ready.model_version
    answer.update(
        model_version=version.pk if version else None,
        model_version_number=version.number if version else None,
        computed_at=ready.computed_at,
        cv_accuracy=ready.cv_accuracy,
    )
    images = _images(project)
    kept_labels: set[tuple[int, int]] = set()
    dismissed: dict[str, set[int]] = defaultdict(set)
    for image_id, kind, label_id in HealthDismissal.objects.filter(
        image__project=project
    ).values_list("image_id", "kind", "label_id"):
        if kind == HealthDismissal.Kind.LABEL:
            kept_labels.add((image_id, label_id))
        else:
            dismissed[kind].add(image_id)
    answer["label_issues"] = [
        _with_neighbours(issue, images)
        for issue in ready.label_issues
        # Relabelled since (fixed, or the suggestion accepted): no longer this issue.
        if issue["image"] in images
        and images[issue["image"]][1] == issue["label"]
        and (issue["image"], images[issue["image"]][0]) not in kept_labels
    ]
    answer["near_duplicates"] = [
        _with_neighbours(pair, images)
        for pair in ready.near_duplicates
        if all(i in images and i not in dismissed["duplicate"] for i in pair["images"])
    ]
    answer["outliers"] = [
        _with_neighbours(item, images)
        for item in ready.outliers
        if item["image"] in images and item["image"] not in dismissed["outlier"]
    ]
    return answer


def health_report_ready(*, project: Project) -> HealthJob | None:
    """The newest finished (succeeded) report of the project, or None."""
    return _latest(project)[1]


def health_insights_get(*, project: Project) -> tuple[str, dict[str, Any] | None]:
    """(the status of the newest job as ``health_report_get`` says it, the newest report's
    ``out_of_sample``, ``learning_curve`` and ``predictions``, or None before any report):
    what the insights endpoints read instead of computing."""
    newest = HealthJob.objects.filter(project=project).order_by("-id").values("status").first()
    ready = (
        HealthJob.objects.filter(project=project, status=HealthJob.Status.SUCCEEDED)
        .order_by("-id")
        .values("out_of_sample", "learning_curve", "predictions")
        .first()
    )
    status = "none" if newest is None else STATUS_OF_JOB[newest["status"]]
    return status, dict(ready) if ready is not None else None
