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


def _emit_safely(project_id: int, event_type: str, data: dict, text: str) -> None:
    try:
        with transaction.atomic():
            event_emit(project_id=project_id, event_type=event_type, data=data, text=text)
    except Exception:  # noqa: BLE001 - see the module docstring
        logger.exception("could not record the %s event of project %s", event_type, project_id)
