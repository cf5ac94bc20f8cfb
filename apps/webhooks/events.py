"""The events lower apps announce (apps.core.hooks), turned into webhook deliveries.

A receiver never lets an error escape: a webhook that cannot be recorded must not fail the
training job or the deployment switch that caused the event. Its writes run in a savepoint,
so a failure leaves the caller's transaction usable.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from apps.webhooks.services import event_emit

logger = logging.getLogger(__name__)


def _accuracy(metrics: dict[str, Any] | None) -> float | None:
    value = (metrics or {}).get("accuracy")
    return float(value) if isinstance(value, int | float) else None


def training_finished_emit(*, job: Any, **_: Any) -> None:
    """training.succeeded / training.failed (a cancelled job sends nothing)."""
    status = str(job.status)
    if status not in ("succeeded", "failed"):
        return
    project = job.project
    version = job.model_version if status == "succeeded" else None
    accuracy = _accuracy(getattr(version, "metrics", None))
    data = {
        "project": {"id": project.pk, "name": project.name},
        "training_job": {
            "id": job.pk,
            "status": status,
            "mode": job.mode,
            "error": job.error,
            "attempts": job.attempts,
        },
        "model_version": (
            {"id": version.pk, "number": version.number, "accuracy": accuracy}
            if version is not None
            else None
        ),
    }
    if version is not None:
        result = f"model v{version.number}"
        if accuracy is not None:
            result += f", accuracy {accuracy:.1%}"
        text = f"Bakehouse: training for project “{project.name}” succeeded ({result})."
    else:
        reason = job.error or "no reason given"
        text = f"Bakehouse: training for project “{project.name}” failed: {reason}"
    _emit_safely(project.pk, f"training.{status}", data, text)


def deployment_changed_emit(*, change: Any, **_: Any) -> None:
    """deployment.changed: the model a deployment serves changed (deploy, switch, rollback,
    promotion)."""
    deployment = change.deployment
    project = deployment.project
    data = {
        "project": {"id": project.pk, "name": project.name},
        "deployment": {"slug": deployment.slug, "name": deployment.name},
        "from_version": change.from_number,
        "to_version": change.to_number,
        "reason": change.reason,
        "changed_by": getattr(change.changed_by, "username", None),
    }
    name = deployment.name or deployment.slug
    source = f"v{change.from_number}" if change.from_number is not None else "nothing"
    text = (
        f"Bakehouse: deployment “{name}” of project “{project.name}” now serves model "
        f"v{change.to_number} (was {source}; {change.get_reason_display().lower()})."
    )
    _emit_safely(project.pk, "deployment.changed", data, text)


def batch_finished_emit(*, job: Any, **_: Any) -> None:
    """batch.succeeded / batch.failed: a batch prediction ended."""
    status = str(job.status)
    if status not in ("succeeded", "failed"):
        return
    deployment = job.deployment
    project = deployment.project
    data = {
        "project": {"id": project.pk, "name": project.name},
        "deployment": {"slug": deployment.slug, "name": deployment.name},
        "batch": {
            "id": job.pk,
            "status": status,
            "total": job.total,
            "done": job.done,
            "failed": job.failed,
            "error": job.error,
            "model_version": job.model_version_number,
            "precision": job.precision,
        },
    }
    name = deployment.name or deployment.slug
    if status == "succeeded":
        errors = f"; {job.failed} could not be read" if job.failed else ""
        text = (
            f"Bakehouse: batch {job.pk} of deployment “{name}” (project “{project.name}”) "
            f"finished: {job.done - job.failed} of {job.total} images predicted by model "
            f"v{job.model_version_number}{errors}."
        )
    else:
        reason = job.error or "no reason given"
        text = (
            f"Bakehouse: batch {job.pk} of deployment “{name}” (project “{project.name}”) "
            f"failed after {job.done} of {job.total} images: {reason}"
        )
    _emit_safely(project.pk, f"batch.{status}", data, text)


def candidate_report_emit(
    *,
    deployment: Any,
    candidate_version: Any,
    outcome: str,
    automatic: bool,
    report: dict[str, Any],
    **_: Any,
) -> None:
    """candidate.report: a rollout (canary or shadow) ended, promoted (by hand or by the
    gate) or aborted, with its counts."""
    project = deployment.project
    gate = report.get("gate") or {}
    data = {
        "project": {"id": project.pk, "name": project.name},
        "deployment": {"slug": deployment.slug, "name": deployment.name},
        "candidate_version": candidate_version.number,
        "outcome": outcome,
        "automatic": automatic,
        "mode": report.get("mode"),
        "requests": report.get("requests"),
        "agreement": report.get("agreement"),
        "settled": report.get("settled"),
        "dropped": report.get("dropped"),
        "gate_reasons": gate.get("reasons", []),
    }
    name = deployment.name or deployment.slug
    how = "by the promotion gate" if automatic else ("by hand" if outcome == "promoted" else "")
    text = (
        f"Bakehouse: the {report.get('mode') or 'rollout'} of model v{candidate_version.number} "
        f"on deployment “{name}” was {outcome}{(' ' + how) if how else ''}."
    )
    agreement = report.get("agreement")
    if isinstance(agreement, int | float):
        text += f" Agreement {agreement:.1%} over {report.get('requests')} requests."
    _emit_safely(project.pk, "candidate.report", data, text)


def drift_alert_emit(*, alert: Any, **_: Any) -> None:
    """drift.alert: a deployment's recent predictions moved away from its model's training
    images (apps.monitoring)."""
    deployment = alert.deployment
    project = deployment.project
    version = alert.model_version
    data = {
        "project": {"id": project.pk, "name": project.name},
        "deployment": {"slug": deployment.slug, "name": deployment.name},
        "model_version": version.number if version is not None else None,
        "drift": {
            "status": alert.status,
            "score": alert.score,
            "p_value": alert.p_value,
            "window": alert.window,
            "since": alert.since.isoformat(),
            "tests": alert.tests,
        },
        "sample_predictions": list(alert.sample_prediction_uids),
    }
    name = deployment.name or deployment.slug
    text = (
        f"Bakehouse: drift on deployment “{name}” of project “{project.name}”: its last "
        f"{alert.window} predictions differ from the training images (p = {alert.p_value:.2g})."
    )
    _emit_safely(project.pk, "drift.alert", data, text)


def _emit_safely(project_id: int, event_type: str, data: dict, text: str) -> None:
    try:
        with transaction.atomic():
            event_emit(project_id=project_id, event_type=event_type, data=data, text=text)
    except Exception:  # noqa: BLE001 - see the module docstring
        logger.exception("could not record the %s event of project %s", event_type, project_id)
