"""Writes for a canary rollout: a candidate version answers a share of a deployment's
requests while the live version answers the rest, until it is promoted (it becomes the live
version, recorded in the history as a promotion) or stopped.

Serving reads the candidate with the deployment (``serving.registry.LIVE_FIELDS``) and
routes each request (``canary_route``); every answer names the version that gave it. A
change reaches every web process through the same generation token as a switch.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.deployments.models import Deployment, DeploymentChange
from apps.deployments.services import (
    _model_version_of,
    _precision_check,
    _publish_change,
    _warm,
    deployment_switch,
)

CANARY_MODES = ("canary",)
CANDIDATE_FIELDS = ["candidate_version", "candidate_percent", "candidate_since", "updated_at"]


def _percent_clean(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99:
        raise ApplicationError(
            "The percent must be a whole number from 1 to 99 (to answer every request with "
            "the candidate, promote it).",
            code="invalid_percent",
        )
    return value


def deployment_candidate_set(
    *, deployment: Deployment, model_version_id: Any, mode: Any, percent: Any
) -> Deployment:
    """Start (or change) a canary: ``model_version_id`` answers ``percent`` % of the
    requests from the next request on, in every web process. The version is loaded first:
    one that cannot be served is refused (400) and nothing changes."""
    if mode not in CANARY_MODES:
        raise ApplicationError(
            f'Unknown rollout mode {mode!r}. Use "canary": a share of the requests is answered '
            "by the candidate.",
            code="invalid_mode",
        )
    percent = _percent_clean(percent)
    version = _model_version_of(project=deployment.project, model_version_id=model_version_id)
    if version.pk == deployment.model_version_id:
        raise ApplicationError(
            f"Model v{version.number} is the version this deployment serves already; pick "
            "another version as the candidate.",
            code="invalid_model_version",
        )
    _precision_check(version, deployment.precision)
    _warm(version, deployment.precision)
    with transaction.atomic():
        if deployment.candidate_version_id != version.pk:
            deployment.candidate_since = timezone.now()
        deployment.candidate_version = version
        deployment.candidate_percent = percent
        deployment.save(update_fields=CANDIDATE_FIELDS)
        _publish_change()
    return deployment


def deployment_candidate_clear(*, deployment: Deployment) -> Deployment:
    """Stop the canary: every request is answered by the live version again, in every web
    process. Nothing to do when no canary is under way."""
    if deployment.candidate_version_id is None:
        return deployment
    with transaction.atomic():
        deployment.candidate_version = None
        deployment.candidate_percent = 0
        deployment.candidate_since = None
        deployment.save(update_fields=CANDIDATE_FIELDS)
        _publish_change()
    return deployment


def deployment_candidate_promote(*, deployment: Deployment, changed_by: Any = None) -> Deployment:
    """The candidate becomes the live version (a switch recorded as a promotion), and the
    canary ends. 409 when no canary is under way."""
    candidate_id = deployment.candidate_version_id
    if candidate_id is None:
        raise ApplicationError(
            "This deployment has no candidate to promote. Start a canary first.",
            code="no_candidate",
            status_code=409,
        )
    deployment = deployment_switch(
        deployment=deployment,
        model_version_id=candidate_id,
        changed_by=changed_by,
        reason=DeploymentChange.Reason.PROMOTION,
    )
    return deployment_candidate_clear(deployment=deployment)
