"""The automatic promotion gate of a shadow rollout.

A shadow started with ``gate_min_requests`` is promoted by itself (a promotion in the
history with nobody as its author) once all three hold:

1. the candidate ran on at least ``gate_min_requests`` requests;
2. its answers favour it: it agreed with the live version on at least
   ``gate_min_agreement`` of them, or the disagreements somebody settled found the
   candidate right more often than the live version;
3. the model diff (``apps.training.compare``: both versions on the held-out images they
   share) shows no label whose recall falls beyond its interval, i.e. no label whose whole
   95 % interval for the change in recall lies below zero. A diff that cannot be made (no
   shared test images) blocks the gate: nothing says the candidate is not worse.

``gate_evaluate`` says where the gate stands (a read; the rollout's GET shows it);
``shadow_gate_check`` acts on it (beat runs it for every gated shadow: safe to run twice,
the deployment's row is locked and a second run finds no candidate left).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.deployments.models import Deployment
from apps.deployments.shadow_selectors import shadow_counts
from apps.training.compare import model_version_compare
from apps.training.models import ModelVersion

logger = logging.getLogger(__name__)

# The model diff of two versions is read again at most this often (seconds).
DIFF_CACHE_SECONDS = 60


def _percent(value: float) -> str:
    return f"{value * 100:.1f} %"


def recall_check(*, live: ModelVersion, candidate: ModelVersion) -> dict[str, Any]:
    """``{"passed", "detail", "falling": [{"label", "live_recall", "candidate_recall",
    "low", "high"}]}`` from the model diff (cached a minute)."""
    key = f"shadow-gate:recall:{live.pk}:{candidate.pk}"
    cached = cache.get(key)
    if cached is not None:
        return dict(cached)
    try:
        diff = model_version_compare(a=live, b=candidate)
    except ApplicationError as exc:
        result: dict[str, Any] = {
            "passed": False,
            "detail": f"The model diff could not be made: {exc.message}",
            "falling": [],
        }
    else:
        falling = [
            {
                "label": row["label"],
                "live_recall": row["a_recall"],
                "candidate_recall": row["b_recall"],
                "low": row["low"],
                "high": row["high"],
            }
            for row in diff["per_label"]
            if row["high"] < 0
        ]
        if falling:
            detail = "; ".join(
                f"recall of “{row['label']}” falls from {_percent(row['live_recall'])} to "
                f"{_percent(row['candidate_recall'])} (interval {row['low']:+.3f} to "
                f"{row['high']:+.3f})"
                for row in falling
            )
        else:
            detail = f"No label's recall falls beyond its interval ({diff['images']} images)."
        result = {"passed": not falling, "detail": detail, "falling": falling}
    cache.set(key, result, DIFF_CACHE_SECONDS)
    return result


def gate_evaluate(
    *, deployment: Deployment, counts: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Where the gate stands: ``{"enabled", "state": "off" | "waiting" | "blocked" |
    "ready", "min_requests", "min_agreement", "reasons": [sentences], "checks": {...}}``."""
    minimum = deployment.gate_min_requests
    min_agreement = float(deployment.gate_min_agreement)
    base: dict[str, Any] = {
        "enabled": minimum is not None,
        "min_requests": minimum,
        "min_agreement": min_agreement,
    }
    candidate = deployment.candidate_version
    if (
        minimum is None
        or candidate is None
        or deployment.candidate_mode != Deployment.CandidateMode.SHADOW
    ):
        return {**base, "state": "off", "reasons": ["No gate: promote by hand."], "checks": {}}
    counts = counts if counts is not None else shadow_counts(deployment=deployment)
    requests, agreement = counts["requests"], counts["agreement"]
    settled = counts["settled"]
    enough = requests >= minimum
    agrees = agreement is not None and agreement >= min_agreement
    settled_favours = settled["candidate_right"] > settled["live_right"]
    recall = recall_check(live=deployment.model_version, candidate=candidate)
    checks = {
        "requests": {"passed": enough, "detail": f"{requests} of {minimum} requests."},
        "answers": {
            "passed": agrees or settled_favours,
            "detail": (
                f"Agreement {_percent(agreement) if agreement is not None else 'not known yet'}"
                f" (needs {_percent(min_agreement)}); settled disagreements: candidate right "
                f"{settled['candidate_right']}, live right {settled['live_right']}."
            ),
        },
        "recall": {"passed": recall["passed"], "detail": recall["detail"]},
    }
    reasons = [check["detail"] for check in checks.values() if not check["passed"]]
    if not reasons:
        state = "ready"
        reasons = [check["detail"] for check in checks.values()]
    else:
        state = "waiting" if not enough else "blocked"
    return {**base, "state": state, "reasons": reasons, "checks": checks}


def shadow_gate_check(*, deployment_id: int) -> str:
    """Evaluate one deployment's gate, record the decision (``Deployment.gate_report``) and
    promote the candidate when the gate is passed. Returns the gate's state ("promoted"
    after a promotion). Safe to run twice."""
    from apps.deployments.canary import deployment_candidate_promote

    with transaction.atomic():
        deployment = (
            # of=("self",): PostgreSQL cannot lock the nullable side of the outer join to
            # the candidate; only the deployment's row needs the lock.
            Deployment.objects.select_for_update(of=("self",))
            .select_related("model_version", "candidate_version", "project")
            .filter(pk=deployment_id)
            .first()
        )
        if deployment is None:
            return "off"
        report = gate_evaluate(deployment=deployment)
        if report["state"] == "off":
            return "off"
        report["evaluated_at"] = timezone.now().isoformat()
        if report["state"] != "ready":
            Deployment.objects.filter(pk=deployment.pk).update(gate_report=report)
            return str(report["state"])
        candidate = deployment.candidate_version
        assert candidate is not None
        report.update(
            state="promoted",
            promoted_version=candidate.pk,
            promoted_version_number=candidate.number,
        )
        deployment.gate_report = report
        deployment.save(update_fields=["gate_report"])
        deployment_candidate_promote(deployment=deployment, changed_by=None, gate_report=report)
    logger.info("shadow gate promoted model v%s on %s", candidate.number, deployment.slug)
    return "promoted"


def shadow_gates_check() -> int:
    """Check the gate of every gated shadow under way. Returns how many were promoted."""
    ids = list(
        Deployment.objects.filter(
            candidate_mode=Deployment.CandidateMode.SHADOW,
            candidate_version__isnull=False,
            gate_min_requests__isnull=False,
        ).values_list("pk", flat=True)
    )
    promoted = 0
    for deployment_id in ids:
        try:
            promoted += shadow_gate_check(deployment_id=deployment_id) == "promoted"
        except Exception:  # noqa: BLE001 - one deployment's failure must not stop the others
            logger.exception("shadow gate check failed for deployment %s", deployment_id)
    return promoted
