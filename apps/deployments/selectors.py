"""Reads for deployments, their keys and their prediction log. A deployment is visible to
its project's owner only: for anyone else it does not exist (404)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.db.models import BooleanField, Case, Count, Q, QuerySet, Value, When
from django.http import Http404

from apps.deployments.models import (
    Deployment,
    DeploymentApiKey,
    DeploymentChange,
    PredictionLog,
)
from apps.projects.models import Project


def deployment_list(*, project: Project) -> QuerySet[Deployment]:
    """The project's deployments, newest first, with their model versions."""
    return (
        Deployment.objects.filter(project=project)
        .select_related("model_version", "project", "candidate_version")
        .order_by("-created_at", "-id")
    )


def deployment_get_for_user(*, user: Any, slug: str) -> Deployment:
    """The user's deployment, or 404 (also for somebody else's)."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("Deployment not found.")
    deployment = (
        Deployment.objects.select_related("model_version", "project", "candidate_version")
        .filter(slug=slug, project__owner=user)
        .first()
    )
    if deployment is None:
        raise Http404("Deployment not found.")
    return deployment


def deployment_history(*, deployment: Deployment) -> QuerySet[DeploymentChange]:
    """Every change of the version the deployment serves, newest first."""
    return (
        DeploymentChange.objects.filter(deployment=deployment)
        .select_related("changed_by")
        .order_by("-id")
    )


def deployment_candidate_get(
    *, deployment: Deployment, detail: bool = False
) -> dict[str, Any] | None:
    """The rollout under way (None when there is none): its mode and version, a canary's
    share of the requests, and how many logged predictions each version gave since it
    started; for a shadow also its counts (``shadow_selectors.shadow_state``; with
    ``detail``, the gate and the latest disagreements too)."""
    candidate = deployment.candidate_version
    if candidate is None:
        return None
    if deployment.candidate_mode == Deployment.CandidateMode.SHADOW:
        from apps.deployments.shadow_selectors import shadow_state

        return shadow_state(deployment=deployment, detail=detail)
    counts = dict(
        PredictionLog.objects.filter(
            deployment=deployment,
            created_at__gte=deployment.candidate_since,
            model_version_id__in=[candidate.pk, deployment.model_version_id],
        )
        .order_by()
        .values_list("model_version_id")
        .annotate(n=Count("id"))
    )
    return {
        "mode": "canary",
        "model_version": candidate.pk,
        "model_version_number": candidate.number,
        "percent": deployment.candidate_percent,
        "since": deployment.candidate_since,
        "predictions": {
            "candidate": counts.get(candidate.pk, 0),
            "live": counts.get(deployment.model_version_id, 0),
        },
        "requests": counts.get(candidate.pk, 0),
    }


def api_key_list(*, deployment: Deployment) -> QuerySet[DeploymentApiKey]:
    return DeploymentApiKey.objects.filter(deployment=deployment).order_by("-created")


def api_key_get(*, deployment: Deployment, key_id: str) -> DeploymentApiKey:
    """One of the deployment's keys by its public id (the prefix), or 404."""
    api_key = DeploymentApiKey.objects.filter(deployment=deployment, prefix=key_id).first()
    if api_key is None:
        raise Http404("API key not found.")
    return api_key


def _with_current_uncertainty(
    queryset: QuerySet[PredictionLog], *, threshold: float
) -> QuerySet[PredictionLog]:
    """Each row's ``is_uncertain``: its stored confidence under the deployment's threshold as
    it is NOW. Raising the threshold re-reads old answers too; the ``uncertain`` column only
    records what the caller was told at the time."""
    return queryset.annotate(
        is_uncertain=Case(
            When(confidence__lt=threshold, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


def prediction_list(
    *, deployment: Deployment, uncertain: bool | None = None
) -> QuerySet[PredictionLog]:
    """The deployment's logged predictions, newest first; ``uncertain`` filters by the
    deployment's current threshold (see ``_with_current_uncertainty``)."""
    queryset = PredictionLog.objects.filter(deployment=deployment).select_related("model_version")
    if uncertain is not None:
        below = Q(confidence__lt=deployment.threshold)
        queryset = queryset.filter(below if uncertain else ~below)
    queryset = _with_current_uncertainty(queryset, threshold=deployment.threshold)
    return queryset.order_by("-created_at", "-id")


def _parse_uid(prediction_id: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(prediction_id))
    except (TypeError, ValueError, AttributeError) as exc:
        raise Http404("Prediction not found.") from exc


def prediction_get(
    *, deployment: Deployment, prediction_id: Any, wait: float = 0.0
) -> PredictionLog:
    """A logged prediction by the id its answer carried, or 404.

    Rows are written in the background a moment after the answer (see
    ``apps.deployments.prediction_log``); ``wait`` seconds is how long to wait for one that
    is still on its way before answering 404.
    """
    from apps.deployments.prediction_log import prediction_log_flush

    uid = _parse_uid(prediction_id)
    queryset = _with_current_uncertainty(
        PredictionLog.objects.select_related("deployment__project", "model_version"),
        threshold=deployment.threshold,
    )
    deadline = time.monotonic() + wait
    flushed = False
    while True:
        prediction = queryset.filter(deployment=deployment, uid=uid).first()
        if prediction is not None:
            return prediction
        if not flushed:
            # It may be queued in this very process.
            prediction_log_flush()
            flushed = True
            continue
        if time.monotonic() >= deadline:
            raise Http404("Prediction not found.")
        time.sleep(0.05)
