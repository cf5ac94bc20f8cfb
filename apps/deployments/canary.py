"""Writes for a rollout of a candidate version beside a deployment's live one, until it is
promoted (it becomes the live version, recorded in the history as a promotion) or stopped:

- a canary: the candidate answers a share of the requests, the live version the rest;
- a shadow: the live version answers every request and the candidate runs on the same
  inputs off the request path (``apps.deployments.shadow_worker``); both answers are kept
  (``ShadowResult``), and an optional gate (``apps.deployments.shadow_gate``) promotes the
  candidate by itself.

Serving reads the candidate with the deployment (``serving.registry.LIVE_FIELDS``) and
routes each request (``canary_route``); every answer names the version that gave it. A
change reaches every web process through the same generation token as a switch. Ending a
rollout sends ``on_candidate_report`` (promoted or aborted, with the rollout's state).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.hooks import on_candidate_report
from apps.deployments.models import Deployment, DeploymentChange
from apps.deployments.services import (
    _model_version_of,
    _precision_check,
    _publish_change,
    _warm,
    deployment_switch,
)

CANARY_MODES = ("canary", "shadow")
CANDIDATE_FIELDS = [
    "candidate_version",
    "candidate_percent",
    "candidate_since",
    "candidate_mode",
    "shadow_dropped",
    "gate_min_requests",
    "gate_min_agreement",
    "gate_report",
    "updated_at",
]
DEFAULT_GATE_MIN_AGREEMENT = 0.95


def _percent_clean(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99:
        raise ApplicationError(
            "The percent must be a whole number from 1 to 99 (to answer every request with "
            "the candidate, promote it).",
            code="invalid_percent",
        )
    return value


def _gate_clean(mode: str, min_requests: Any, min_agreement: Any) -> tuple[int | None, float]:
    if min_agreement is None:
        min_agreement = DEFAULT_GATE_MIN_AGREEMENT
    if (
        isinstance(min_agreement, bool)
        or not isinstance(min_agreement, int | float)
        or not 0.0 <= float(min_agreement) <= 1.0
    ):
        raise ApplicationError(
            "The gate's agreement must be a share from 0 to 1 (0.95: the candidate agrees "
            "with the live version on 95 % of the requests).",
            code="invalid_gate",
        )
    if min_requests is None:
        return None, float(min_agreement)
    if mode != "shadow":
        raise ApplicationError(
            "The promotion gate needs a shadow rollout (it compares both versions' answers "
            "on the same requests). Start a shadow, or promote the canary by hand.",
            code="invalid_gate",
        )
    if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 1:
        raise ApplicationError(
            "The gate's number of requests must be a whole number of at least 1.",
            code="invalid_gate",
        )
    return min_requests, float(min_agreement)


def deployment_candidate_set(
    *,
    deployment: Deployment,
    model_version_id: Any,
    mode: Any,
    percent: Any = None,
    gate_min_requests: Any = None,
    gate_min_agreement: Any = None,
) -> Deployment:
    """Start (or change) a rollout of ``model_version_id``, from the next request on, in
    every web process: a canary answers ``percent`` % of the requests; a shadow
    (``percent`` None) answers none and runs beside the live version. ``gate_min_requests``
    (shadow only; None: no gate) promotes the candidate by itself after that many requests
    when the gate passes (``apps.deployments.shadow_gate``). The version is loaded first:
    one that cannot be served is refused (400) and nothing changes. A new candidate or mode
    starts the counts afresh."""
    if mode not in CANARY_MODES:
        raise ApplicationError(
            f'Unknown rollout mode {mode!r}. Use "canary" (a share of the requests is answered '
            'by the candidate) or "shadow" (the candidate runs beside the live version and '
            "answers nothing).",
            code="invalid_mode",
        )
    if mode == "shadow":
        if percent is not None:
            raise ApplicationError(
                "A shadow answers no request, so it takes no percent. Leave it out, or start "
                "a canary.",
                code="invalid_percent",
            )
        percent = 0
    else:
        percent = _percent_clean(percent)
    min_requests, min_agreement = _gate_clean(mode, gate_min_requests, gate_min_agreement)
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
        if deployment.candidate_version_id != version.pk or deployment.candidate_mode != mode:
            deployment.candidate_since = timezone.now()
            deployment.shadow_dropped = 0
            deployment.gate_report = {}
        deployment.candidate_version = version
        deployment.candidate_percent = percent
        deployment.candidate_mode = mode
        deployment.gate_min_requests = min_requests
        deployment.gate_min_agreement = min_agreement
        deployment.save(update_fields=CANDIDATE_FIELDS)
        _publish_change()
    return deployment


def _report(deployment: Deployment) -> dict[str, Any]:
    from apps.deployments.selectors import deployment_candidate_get

    return deployment_candidate_get(deployment=deployment) or {}


def _clear(deployment: Deployment, gate_report: dict[str, Any] | None = None) -> None:
    """End the rollout; the gate's decision stays only when it promoted (the Deploy page
    says why)."""
    deployment.gate_report = gate_report or {}
    deployment.candidate_version = None
    deployment.candidate_percent = 0
    deployment.candidate_since = None
    deployment.candidate_mode = Deployment.CandidateMode.CANARY
    deployment.shadow_dropped = 0
    deployment.gate_min_requests = None
    deployment.save(update_fields=CANDIDATE_FIELDS)
    _publish_change()


def deployment_candidate_clear(*, deployment: Deployment) -> Deployment:
    """Stop the rollout (abort): every request is answered by the live version alone again,
    in every web process. Nothing to do when no rollout is under way."""
    if deployment.candidate_version_id is None:
        return deployment
    candidate = deployment.candidate_version
    report = _report(deployment)
    with transaction.atomic():
        _clear(deployment)
        on_candidate_report.send(
            deployment=deployment,
            candidate_version=candidate,
            outcome="aborted",
            automatic=False,
            report=report,
        )
    return deployment


def deployment_candidate_promote(
    *, deployment: Deployment, changed_by: Any = None, gate_report: dict[str, Any] | None = None
) -> Deployment:
    """The candidate becomes the live version (a switch recorded as a promotion, by
    ``changed_by``; None for the gate, whose decision is ``gate_report``), and the rollout
    ends. 409 when no rollout is under way."""
    candidate = deployment.candidate_version if deployment.candidate_version_id else None
    if candidate is None:
        raise ApplicationError(
            "This deployment has no candidate to promote. Start a canary or a shadow first.",
            code="no_candidate",
            status_code=409,
        )
    report = _report(deployment)
    if gate_report is not None:
        report["gate"] = gate_report
    with transaction.atomic():
        deployment = deployment_switch(
            deployment=deployment,
            model_version_id=candidate.pk,
            changed_by=changed_by,
            reason=DeploymentChange.Reason.PROMOTION,
        )
        _clear(deployment, gate_report)
        on_candidate_report.send(
            deployment=deployment,
            candidate_version=candidate,
            outcome="promoted",
            automatic=gate_report is not None,
            report=report,
        )
    return deployment
