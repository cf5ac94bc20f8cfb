"""Reads of apps.monitoring: a deployment's figures over a window, its drift state and its
alerts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.db.models import QuerySet
from django.utils import timezone

from apps.deployments.models import Deployment, PredictionLog
from apps.deployments.serving.errors import prediction_errors
from apps.monitoring.models import DriftAlert, MonitoringSettings
from apps.monitoring.reference import training_label_mix


@dataclass(frozen=True)
class Window:
    span: timedelta
    bucket_seconds: int
    error_unit: str  # the error counters read: "m" (minutes) or "h" (hours)


WINDOWS: dict[str, Window] = {
    "1h": Window(timedelta(hours=1), 60, "m"),
    "6h": Window(timedelta(hours=6), 300, "m"),
    "24h": Window(timedelta(hours=24), 900, "m"),
    "7d": Window(timedelta(days=7), 7200, "h"),
    "30d": Window(timedelta(days=30), 43200, "h"),
}
DEFAULT_WINDOW = "24h"
# At most this many of the window's latest predictions are read (the figures say so).
ROW_LIMIT = 50_000


def _percentiles(values: np.ndarray) -> dict[str, float | None]:
    if not len(values):
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "p99": round(float(p99), 2)}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _shares(counts: dict[str, float]) -> dict[str, float]:
    total = sum(counts.values())
    return {label: round(count / total, 4) for label, count in counts.items()} if total else {}


def monitoring_settings_for(*, deployment: Deployment) -> MonitoringSettings:
    """The deployment's settings (defaults, unsaved, when it has none yet)."""
    found = MonitoringSettings.objects.filter(deployment=deployment).first()
    return found or MonitoringSettings(deployment=deployment)


def monitoring_summary(
    *, deployment: Deployment, window: str, now: datetime | None = None
) -> dict[str, Any]:
    """Requests per minute, latency percentiles, error, uncertain and out-of-distribution
    rates and the predicted label mix, per time bucket of ``window`` (one of ``WINDOWS``)
    and over all of it, the training label mix, and the drift state."""
    spec = WINDOWS[window]
    now = now or timezone.now()
    since = now - spec.span
    rows = list(
        PredictionLog.objects.filter(deployment=deployment, created_at__gte=since)
        .order_by("-created_at", "-id")
        .values_list("created_at", "latency_ms", "uncertain", "out_of_distribution", "label")[
            :ROW_LIMIT
        ]
    )
    errors = prediction_errors(slug=deployment.slug, since=since, until=now, unit=spec.error_unit)
    size = spec.bucket_seconds
    start = int(since.timestamp() // size) * size
    count = int(now.timestamp() // size) * size - start
    buckets: list[dict[str, Any]] = []
    times = np.array([row[0].timestamp() for row in rows], dtype=np.float64)
    latencies = np.array([row[1] for row in rows], dtype=np.float64)
    index = ((times - start) // size).astype(np.int64) if len(rows) else np.zeros(0, np.int64)
    for k in range(count // size + 1):
        mine = np.flatnonzero(index == k)
        bucket_start = start + k * size
        failed = sum(v for t, v in errors.items() if bucket_start <= t < bucket_start + size)
        picked = [rows[int(i)] for i in mine]
        scored = [row for row in picked if row[3] is not None]
        buckets.append(
            {
                "start": datetime.fromtimestamp(bucket_start, tz=UTC),
                "requests": len(picked),
                "requests_per_minute": round(len(picked) * 60 / size, 3),
                "latency_ms": _percentiles(latencies[mine]),
                "failed_requests": failed,
                "error_rate": _rate(failed, len(picked) + failed),
                "uncertain_rate": _rate(sum(1 for row in picked if row[2]), len(picked)),
                "ood_rate": _rate(sum(1 for row in scored if row[3]), len(scored)),
                "labels": dict(Counter(row[4] for row in picked)),
            }
        )
    failed_total = sum(errors.values())
    scored_total = [row for row in rows if row[3] is not None]
    minutes = spec.span.total_seconds() / 60
    version = deployment.model_version
    return {
        "window": window,
        "since": since,
        "until": now,
        "bucket_seconds": size,
        "sampled": len(rows) >= ROW_LIMIT,
        "totals": {
            "requests": len(rows),
            "requests_per_minute": round(len(rows) / minutes, 3),
            "latency_ms": _percentiles(latencies),
            "failed_requests": failed_total,
            "error_rate": _rate(failed_total, len(rows) + failed_total),
            "uncertain_rate": _rate(sum(1 for row in rows if row[2]), len(rows)),
            "ood_rate": _rate(sum(1 for row in scored_total if row[3]), len(scored_total)),
        },
        "label_mix": _shares(dict(Counter(row[4] for row in rows))),
        "training_mix": _shares(training_label_mix(version.snapshot or [])),
        "buckets": buckets,
        "drift": drift_state(deployment=deployment),
    }


def drift_state(*, deployment: Deployment) -> dict[str, Any]:
    """The last drift check's outcome, with the open alert's sample predictions."""
    found = monitoring_settings_for(deployment=deployment)
    alert = drift_alert_open(deployment=deployment)
    return {
        "status": found.status if found.checked_at else "ok",
        "score": found.score,
        "p_value": found.p_value,
        "window": found.window_size,
        "since": found.window_since,
        "checked_at": found.checked_at,
        "tests": found.tests or [],
        "alert": alert.pk if alert is not None else None,
        "samples": drift_alert_samples(alert=alert) if alert is not None else [],
    }


def drift_alert_open(*, deployment: Deployment) -> DriftAlert | None:
    return (
        DriftAlert.objects.filter(deployment=deployment, acknowledged=False)
        .order_by("-created_at", "-id")
        .first()
    )


def drift_alert_list(*, deployment: Deployment) -> QuerySet[DriftAlert]:
    return DriftAlert.objects.filter(deployment=deployment).select_related(
        "model_version", "acknowledged_by"
    )


def drift_alert_get(*, deployment: Deployment, alert_id: int) -> DriftAlert | None:
    return drift_alert_list(deployment=deployment).filter(pk=alert_id).first()


def drift_alert_samples(*, alert: DriftAlert) -> list[PredictionLog]:
    """The alert's sample predictions that still exist, in the alert's order."""
    uids = list(alert.sample_prediction_uids or [])
    found = {
        str(row.uid): row
        for row in PredictionLog.objects.filter(deployment_id=alert.deployment_id, uid__in=uids)
    }
    return [found[uid] for uid in uids if uid in found]
