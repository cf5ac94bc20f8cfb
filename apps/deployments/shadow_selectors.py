"""Reads for a shadow rollout: how often the candidate agreed with the live version, the
requests where they disagreed (with the logged image), and which one was right where
somebody settled a disagreement."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Q, QuerySet

from apps.deployments.models import Deployment, PredictionLog, ShadowResult

# The disagreements the rollout's state shows (newest first; the list endpoint pages).
DISAGREEMENTS_SHOWN = 24


def shadow_results(*, deployment: Deployment) -> QuerySet[ShadowResult]:
    """The results of the shadow under way: its candidate beside the version live now, since
    the shadow started (none when there is no shadow)."""
    if deployment.candidate_version_id is None or deployment.candidate_since is None:
        return ShadowResult.objects.none()
    return ShadowResult.objects.filter(
        deployment=deployment,
        candidate_version_id=deployment.candidate_version_id,
        live_version_id=deployment.model_version_id,
        created_at__gte=deployment.candidate_since,
    )


def shadow_counts(*, deployment: Deployment) -> dict[str, Any]:
    """``{"requests", "agreed", "agreement" (None before the first), "disagreements",
    "settled": {"live_right", "candidate_right", "neither_right", "unsettled"}}``."""
    settled = Q(agree=False) & ~Q(settled_label="")
    counts = shadow_results(deployment=deployment).aggregate(
        requests=Count("id"),
        agreed=Count("id", filter=Q(agree=True)),
        disagreements=Count("id", filter=Q(agree=False)),
        settled=Count("id", filter=settled),
        live_right=Count("id", filter=settled & Q(settled_label=F("live_label"))),
        candidate_right=Count("id", filter=settled & Q(settled_label=F("candidate_label"))),
    )
    requests = int(counts["requests"])
    live_right, candidate_right = int(counts["live_right"]), int(counts["candidate_right"])
    return {
        "requests": requests,
        "agreed": int(counts["agreed"]),
        "agreement": round(counts["agreed"] / requests, 5) if requests else None,
        "disagreements": int(counts["disagreements"]),
        "settled": {
            "live_right": live_right,
            "candidate_right": candidate_right,
            "neither_right": int(counts["settled"]) - live_right - candidate_right,
            "unsettled": int(counts["disagreements"]) - int(counts["settled"]),
        },
    }


def shadow_disagreements(
    *, deployment: Deployment, settled: bool | None = None
) -> QuerySet[ShadowResult]:
    """The requests where the two versions disagreed, newest first; ``settled`` filters by
    whether the true label was given."""
    queryset = shadow_results(deployment=deployment).filter(agree=False)
    if settled is not None:
        queryset = (
            queryset.exclude(settled_label="") if settled else queryset.filter(settled_label="")
        )
    return queryset.order_by("-created_at", "-id")


def shadow_disagreements_with_images(
    results: list[ShadowResult],
) -> list[tuple[ShadowResult, PredictionLog | None]]:
    """Each result with its logged prediction (its stored image), in one query."""
    logs = {
        log.uid: log
        for log in PredictionLog.objects.filter(
            uid__in=[result.prediction_uid for result in results]
        ).only("id", "uid", "image", "added_image_id")
    }
    return [(result, logs.get(result.prediction_uid)) for result in results]


def shadow_result_get(*, deployment: Deployment, result_id: Any) -> ShadowResult:
    """One of the deployment's shadow results, or 404."""
    from django.http import Http404

    try:
        pk = int(result_id)
    except (TypeError, ValueError) as exc:
        raise Http404("Shadow result not found.") from exc
    result = (
        ShadowResult.objects.select_related("deployment__project")
        .filter(deployment=deployment, pk=pk)
        .first()
    )
    if result is None:
        raise Http404("Shadow result not found.")
    return result


def _disagreement(result: ShadowResult, log: PredictionLog | None) -> dict[str, Any]:
    return {
        "id": result.pk,
        "prediction": result.prediction_uid,
        "created_at": result.created_at,
        "live": {"label": result.live_label, "confidence": result.live_confidence},
        "candidate": {"label": result.candidate_label, "confidence": result.candidate_confidence},
        "settled_label": result.settled_label or None,
        "image": log.image.name if log is not None and log.image else "",
    }


def shadow_disagreement_rows(results: list[ShadowResult]) -> list[dict[str, Any]]:
    """The disagreements as the API shows them, each with its logged image."""
    return [_disagreement(result, log) for result, log in shadow_disagreements_with_images(results)]


def shadow_state(*, deployment: Deployment, detail: bool = False) -> dict[str, Any]:
    """The shadow under way: ``{"mode": "shadow", "model_version", "model_version_number",
    "percent": None, "since", "predictions", "requests", "agreed", "agreement",
    "disagreements_count", "settled", "dropped", "store_images"}``; with ``detail`` also
    ``"gate"`` (``shadow_gate.gate_evaluate``) and ``"disagreements"``, the latest ones,
    unsettled first."""
    candidate = deployment.candidate_version
    assert candidate is not None
    counts = shadow_counts(deployment=deployment)
    state: dict[str, Any] = {
        "mode": Deployment.CandidateMode.SHADOW.value,
        "model_version": candidate.pk,
        "model_version_number": candidate.number,
        "percent": None,
        "since": deployment.candidate_since,
        # Every request is answered by the live version; the candidate ran on ``requests``.
        "predictions": {"candidate": 0, "live": counts["requests"]},
        "requests": counts["requests"],
        "agreed": counts["agreed"],
        "agreement": counts["agreement"],
        "disagreements_count": counts["disagreements"],
        "settled": counts["settled"],
        "dropped": deployment.shadow_dropped,
        "store_images": deployment.store_images,
    }
    if detail:
        # Lazy: the gate reads these counts (shadow_gate imports this module).
        from apps.deployments.shadow_gate import gate_evaluate

        state["gate"] = gate_evaluate(deployment=deployment, counts=counts)
        unsettled = list(
            shadow_disagreements(deployment=deployment, settled=False)[:DISAGREEMENTS_SHOWN]
        )
        room = DISAGREEMENTS_SHOWN - len(unsettled)
        settled = (
            list(shadow_disagreements(deployment=deployment, settled=True)[:room]) if room else []
        )
        state["disagreements"] = shadow_disagreement_rows(unsettled + settled)
    return state
