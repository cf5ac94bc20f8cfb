"""Writes for the retraining policy.

A policy retrains a project when enough labels arrived since the last model, when a
deployment raises a drift alert, or on a schedule (checked by the beat task
``retraining.check_policies``). When the job succeeds, the new version becomes the shadow
candidate of each of the project's deployments, with the policy's gate: the live model
keeps answering, and the candidate replaces it only when the gate finds it no worse
(apps.deployments.canary), never silently.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.projects.models import Project
from apps.retraining.models import RetrainPolicy
from apps.retraining.selectors import labels_since, retrain_clock_start
from apps.training.models import TrainingJob
from apps.training.services import MODE_SYNONYMS, training_job_create

logger = logging.getLogger(__name__)

# A drift alert retrains at most this often: alerts repeat while the shift lasts, and one
# model trained on the new data answers them all.
DRIFT_RETRAIN_COOLDOWN = timedelta(hours=1)
POLICY_FIELDS = ("enabled", "new_labels", "on_drift", "every_hours", "mode", "gate_min_requests")


def _positive_or_none(name: str, value: Any, *, upper: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
        raise ApplicationError(
            f"{name} must be a whole number from 1 to {upper}, or null to turn it off.",
            code=f"invalid_{name}",
        )
    return value


def retrain_policy_update(*, project: Project, values: dict[str, Any]) -> RetrainPolicy:
    """Create or change the project's policy. Only the given fields change. A policy that
    is enabled needs at least one reason to retrain."""
    policy = RetrainPolicy.objects.filter(project=project).first() or RetrainPolicy(project=project)
    if "new_labels" in values:
        policy.new_labels = _positive_or_none("new_labels", values["new_labels"], upper=1_000_000)
    if "every_hours" in values:
        policy.every_hours = _positive_or_none("every_hours", values["every_hours"], upper=24 * 365)
    if "gate_min_requests" in values:
        policy.gate_min_requests = _positive_or_none(
            "gate_min_requests", values["gate_min_requests"], upper=10_000_000
        )
    if "on_drift" in values:
        policy.on_drift = bool(values["on_drift"])
    if "enabled" in values:
        policy.enabled = bool(values["enabled"])
    if "mode" in values:
        mode = MODE_SYNONYMS.get(values["mode"], values["mode"])
        if mode not in TrainingJob.Mode.values:
            raise ApplicationError(
                f'Unknown training mode "{values["mode"]}". Choose "fast", "accurate" or '
                '"finetune".',
                code="invalid_mode",
            )
        policy.mode = mode
    if policy.enabled and not (policy.new_labels or policy.on_drift or policy.every_hours):
        raise ApplicationError(
            "Choose at least one reason to retrain: a number of new labels, a drift alert, "
            "or a schedule in hours.",
            code="invalid_policy",
        )
    policy.updated_at = timezone.now()
    policy.save()
    return policy


def retrain_due_reason(*, policy: RetrainPolicy) -> str | None:
    """Why the policy should retrain now (a sentence), or None."""
    if not policy.enabled:
        return None
    since = retrain_clock_start(policy=policy)
    if policy.new_labels:
        count = labels_since(project=policy.project, since=since)
        if count >= policy.new_labels:
            return f"{count} new labels since the last model (the policy retrains at {policy.new_labels})"
    hours = policy.every_hours
    if hours and (since is None or timezone.now() - since >= timedelta(hours=hours)):
        return f"scheduled: every {hours} h"
    return None


def retrain_start(*, policy: RetrainPolicy, reason: str) -> TrainingJob | None:
    """Queue a training job for the policy (its clock restarts now, whatever happens). A
    project that is already training, or whose data cannot be trained on, is not an error
    here: the outcome says why nothing started."""
    with transaction.atomic():
        policy.last_triggered_at = timezone.now()
        policy.last_reason = reason[:200]
        try:
            job = training_job_create(project=policy.project, mode=policy.mode)
        except ApplicationError as exc:
            policy.last_outcome = f"Not retrained: {exc.message}"
            policy.save(update_fields=["last_triggered_at", "last_reason", "last_outcome"])
            return None
        policy.last_job = job
        policy.last_outcome = f"Training job {job.pk} queued ({reason})."
        policy.save(update_fields=["last_triggered_at", "last_reason", "last_job", "last_outcome"])
    return job


def retrain_policies_check() -> int:
    """Start every enabled policy that is due; returns how many jobs were queued."""
    started = 0
    for policy in RetrainPolicy.objects.filter(enabled=True).select_related("project"):
        reason = retrain_due_reason(policy=policy)
        if reason is not None and retrain_start(policy=policy, reason=reason) is not None:
            started += 1
    return started


def retrain_on_drift(*, project_id: int, deployment_name: str) -> TrainingJob | None:
    """A deployment of the project raised a drift alert: retrain when the policy says so
    (at most once per cooldown)."""
    policy = RetrainPolicy.objects.filter(project_id=project_id, enabled=True, on_drift=True)
    found = policy.select_related("project").first()
    if found is None:
        return None
    last = found.last_triggered_at
    if last is not None and timezone.now() - last < DRIFT_RETRAIN_COOLDOWN:
        return None
    return retrain_start(policy=found, reason=f"drift alert on deployment “{deployment_name}”")


def drift_alert_retrain(*, alert: Any, **_: Any) -> None:
    """Receiver of apps.core.hooks.on_drift_alert. Never lets an error escape: the alert
    itself must be recorded whatever happens here."""
    try:
        deployment = alert.deployment
        retrain_on_drift(
            project_id=deployment.project_id, deployment_name=deployment.name or deployment.slug
        )
    except Exception:
        logger.exception("retraining on a drift alert failed")


def _publish(policy: RetrainPolicy, version: Any) -> str:
    from apps.deployments.canary import deployment_candidate_set

    placed, refused = [], []
    for deployment in policy.project.deployments.all():
        name = deployment.name or deployment.slug
        if deployment.model_version_id == version.pk:
            continue
        try:
            deployment_candidate_set(
                deployment=deployment,
                model_version_id=version.pk,
                mode="shadow",
                percent=None,
                gate_min_requests=policy.gate_min_requests,
            )
        except ApplicationError as exc:
            refused.append(f"“{name}”: {exc.message}")
        else:
            placed.append(f"“{name}”")
    if not placed and not refused:
        return f"Model v{version.number} trained; the project has no deployment to try it on."
    text = f"Model v{version.number} trained"
    if placed:
        gate = (
            f"the gate promotes it after {policy.gate_min_requests} requests if it is no worse"
            if policy.gate_min_requests
            else "promote it by hand"
        )
        text += f"; shadow candidate of {', '.join(placed)} ({gate})"
    if refused:
        text += f"; not a candidate of {'; '.join(refused)}"
    return text + "."


def retrain_candidate_publish(*, job: Any, **_: Any) -> None:
    """Receiver of apps.core.hooks.on_training_finished: a job the policy started ended. A
    new model becomes the shadow candidate of each deployment of the project."""
    policy = RetrainPolicy.objects.filter(last_job_id=job.pk).select_related("project").first()
    if policy is None:
        return
    try:
        if str(job.status) == TrainingJob.Status.SUCCEEDED and job.model_version is not None:
            outcome = _publish(policy, job.model_version)
        elif str(job.status) == TrainingJob.Status.FAILED:
            outcome = f"Training job {job.pk} failed: {job.error or 'no reason given'}"
        else:
            outcome = f"Training job {job.pk} was {job.status}."
    except Exception as exc:  # the training job has ended: record, never raise into it
        logger.exception("publishing a retrained model failed")
        outcome = f"Model trained, but it could not be made a candidate: {exc}"
    policy.last_outcome = outcome
    policy.save(update_fields=["last_outcome"])
