"""Reads for the retraining policy: the policy (unsaved defaults when none was set), how
many labels arrived since the last model, and when the schedule falls due."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from apps.labeling.models import LabelEvent
from apps.projects.models import Project
from apps.retraining.models import RetrainPolicy
from apps.training.models import ModelVersion


def retrain_policy_get(*, project: Project) -> RetrainPolicy:
    """The project's policy, or an unsaved disabled one with the defaults."""
    policy = RetrainPolicy.objects.filter(project=project).select_related("last_job").first()
    return policy if policy is not None else RetrainPolicy(project=project)


def latest_model_version(*, project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project).order_by("-number").first()


def retrain_clock_start(*, policy: RetrainPolicy) -> datetime | None:
    """Where the counts restart: the newest of the last model and the last retraining
    (so a retraining that failed does not trigger again at the next check)."""
    version = latest_model_version(project=policy.project)
    moments = [m for m in (getattr(version, "created_at", None), policy.last_triggered_at) if m]
    return max(moments) if moments else None


def labels_since(*, project: Project, since: datetime | None) -> int:
    """Labels given or changed on the project's images since ``since`` (every one when
    None). Removing a label is not new information to train on."""
    events = LabelEvent.objects.filter(image__project=project, new_label__isnull=False)
    if since is not None:
        events = events.filter(created_at__gt=since)
    return events.count()


def retrain_status(*, policy: RetrainPolicy) -> dict[str, Any]:
    since = retrain_clock_start(policy=policy)
    version = latest_model_version(project=policy.project)
    next_scheduled = None
    if policy.enabled and policy.every_hours and since is not None:
        next_scheduled = since + timedelta(hours=policy.every_hours)
    job = policy.last_job
    return {
        "labels_since_last_model": labels_since(project=policy.project, since=since),
        "counting_since": since,
        "last_model": (
            {"id": version.pk, "number": version.number, "created_at": version.created_at}
            if version is not None
            else None
        ),
        "next_scheduled_at": next_scheduled,
        "last_triggered_at": policy.last_triggered_at,
        "last_reason": policy.last_reason,
        "last_job": (
            {"id": job.pk, "status": str(job.status), "mode": job.mode} if job is not None else None
        ),
        "last_outcome": policy.last_outcome,
    }
