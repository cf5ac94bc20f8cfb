"""Writes of apps.monitoring: a deployment's drift settings, its drift check, and the
acknowledgement of an alert."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from apps import ml
from apps.core.exceptions import ApplicationError
from apps.core.hooks import on_drift_alert
from apps.deployments.models import Deployment, PredictionLog
from apps.monitoring.models import DriftAlert, MonitoringSettings
from apps.monitoring.reference import drift_reference, training_label_mix

logger = logging.getLogger(__name__)

# A check needs at least this many sketched predictions in its window.
MIN_WINDOW = 100
# A new check runs once this many predictions arrived since the last one (or, with fewer
# new ones, once this long passed: the last predictions of a quiet deployment count too).
CHECK_EVERY = 50
CHECK_AFTER_SECONDS = 600
# Images of the shifted window shown with an alert.
SAMPLES = 8
WINDOW_LIMITS = (MIN_WINDOW, 5000)


def monitoring_settings_get_or_create(*, deployment: Deployment) -> MonitoringSettings:
    found, _ = MonitoringSettings.objects.get_or_create(deployment=deployment)
    return found


def monitoring_settings_update(
    *, deployment: Deployment, changes: dict[str, Any]
) -> MonitoringSettings:
    """Change the thresholds (``alert_p``, ``warning_p``), ``window`` or ``enabled``."""
    alert_p = changes.get("alert_p")
    warning_p = changes.get("warning_p")
    window = changes.get("window")
    with transaction.atomic():
        found = monitoring_settings_get_or_create(deployment=deployment)
        found = MonitoringSettings.objects.select_for_update().get(pk=found.pk)
        alert_p = found.alert_p if alert_p is None else float(alert_p)
        warning_p = found.warning_p if warning_p is None else float(warning_p)
        if not (0.0 < alert_p <= warning_p < 1.0):
            raise ApplicationError(
                "The alert threshold must be a p-value above 0 and at most the warning "
                "threshold, which must be under 1 (e.g. 0.01 and 0.05).",
                code="invalid_threshold",
            )
        if window is not None and not (WINDOW_LIMITS[0] <= int(window) <= WINDOW_LIMITS[1]):
            raise ApplicationError(
                f"The window must hold between {WINDOW_LIMITS[0]} and {WINDOW_LIMITS[1]} "
                "predictions.",
                code="invalid_window",
            )
        found.alert_p, found.warning_p = alert_p, warning_p
        if window is not None:
            found.window = int(window)
        if "enabled" in changes and changes["enabled"] is not None:
            found.enabled = bool(changes["enabled"])
        found.save()
    return found


def _due(found: MonitoringSettings, newest: datetime, new_count: int, now: datetime) -> bool:
    if found.checked_until is None:
        return True
    if newest <= found.checked_until:
        return False
    if new_count >= CHECK_EVERY:
        return True
    return found.checked_at is None or (now - found.checked_at).total_seconds() >= (
        CHECK_AFTER_SECONDS
    )


def drift_check(*, deployment_id: int, now: datetime | None = None) -> DriftAlert | None:
    """Test the deployment's latest predictions (``window`` of them, of the version it
    serves) against that version's training images; record the outcome, and open or update
    an alert when it warns or alerts. Returns the open alert, if any.

    Safe to run twice: it claims the settings row, and a check with no new predictions
    since the last one does nothing."""
    now = now or timezone.now()
    deployment = Deployment.objects.select_related("model_version").filter(pk=deployment_id).first()
    if deployment is None:
        return None
    version = deployment.model_version
    reference = drift_reference(version.ood_file.name or "")
    found = monitoring_settings_get_or_create(deployment=deployment)
    if not found.enabled or reference is None:
        return None
    logged = PredictionLog.objects.filter(
        deployment_id=deployment.pk, model_version_id=version.pk, sketch__isnull=False
    )
    if (
        found.checked_until is not None
        and not logged.filter(created_at__gt=found.checked_until).exists()
    ):
        return None
    rows = list(
        logged.order_by("-created_at", "-id").values_list(
            "uid", "sketch", "confidence", "label", "created_at", "image"
        )[: found.window]
    )
    if len(rows) < MIN_WINDOW:
        return None
    newest = rows[0][4]
    new_count = sum(
        1 for row in rows if found.checked_until is None or row[4] > found.checked_until
    )
    if not _due(found, newest, new_count, now):
        return None

    sketches = ml.sketches_from_bytes([row[1] for row in rows], reference.projection.dims)
    embedding = ml.embedding_drift(reference.sketches, sketches)
    others = [_label_mix(rows, version.snapshot), _confidence(deployment, version.pk, rows)]
    verdict = ml.drift_combine(embedding, others, alert_p=found.alert_p, warning_p=found.warning_p)
    tests = [
        {"name": t.name, "score": t.score, "p_value": t.p_value, "n": t.n} for t in verdict.tests
    ]
    since = rows[-1][4]
    with transaction.atomic():
        claimed = MonitoringSettings.objects.select_for_update().get(pk=found.pk)
        if claimed.checked_until is not None and claimed.checked_until >= newest:
            return None  # another run checked this window meanwhile
        claimed.checked_at, claimed.checked_until = now, newest
        claimed.status, claimed.score, claimed.p_value = (
            verdict.status,
            verdict.score,
            verdict.p_value,
        )
        claimed.tests, claimed.window_since, claimed.window_size = tests, since, len(rows)
        claimed.save()
        if verdict.status == "ok":
            return None
        alert, raised = _alert_record(
            deployment=deployment,
            version_id=version.pk,
            verdict=verdict,
            tests=tests,
            since=since,
            window=len(rows),
            samples=_samples(rows, sketches, reference.sketches),
            now=now,
        )
        if raised:
            transaction.on_commit(lambda: _announce(alert.pk))
    return alert


def _alert_record(
    *,
    deployment: Deployment,
    version_id: int,
    verdict: Any,
    tests: list[dict[str, Any]],
    since: datetime,
    window: int,
    samples: list[str],
    now: datetime,
) -> tuple[DriftAlert, bool]:
    """Open a new alert, or update the open one of this version. Returns (alert, whether it
    just became an "alert", which is announced)."""
    alert = (
        DriftAlert.objects.select_for_update()
        .filter(deployment=deployment, model_version_id=version_id, acknowledged=False)
        .first()
    )
    escalated = verdict.status == "alert" and (alert is None or alert.status != "alert")
    if alert is None:
        alert = DriftAlert(
            deployment=deployment, model_version_id=version_id, since=since, created_at=now
        )
    if alert.status != "alert":  # an alert stays an alert until acknowledged
        alert.status = verdict.status
    alert.score, alert.p_value, alert.tests, alert.window = (
        verdict.score,
        verdict.p_value,
        tests,
        window,
    )
    alert.sample_prediction_uids = samples
    alert.updated_at = now
    alert.full_clean()
    alert.save()
    return alert, escalated


def _announce(alert_id: int) -> None:
    alert = DriftAlert.objects.select_related("deployment__project", "model_version").get(
        pk=alert_id
    )
    try:
        on_drift_alert.send(alert=alert)
    except Exception:  # noqa: BLE001 - the alert is recorded; a receiver's failure is its own
        logger.exception("a receiver of drift alert %s failed", alert_id)


def _samples(rows: list[tuple], sketches: np.ndarray, reference: np.ndarray) -> list[str]:
    """The uids of the window's predictions farthest from the training images, among those
    whose image was kept: the mean squared whitened coordinate plus the squared z-score of
    the residual against the reference's (each about 1 for a training-like image)."""
    spread = max(float(reference[:, -1].std()), 1e-6)
    residual_z = (sketches[:, -1] - float(reference[:, -1].mean())) / spread
    distance = (sketches[:, :-1] ** 2).mean(axis=1) + residual_z**2
    kept = [k for k in np.argsort(-distance) if rows[int(k)][5]]
    return [str(rows[int(k)][0]) for k in kept[:SAMPLES]]


def _label_mix(rows: list[tuple], snapshot: list[dict]) -> ml.DriftTest:
    expected = training_label_mix(snapshot or [])
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[3]] = counts.get(row[3], 0) + 1
    return ml.label_mix_drift(counts, expected)


def _confidence(deployment: Deployment, version_id: int, rows: list[tuple]) -> ml.DriftTest:
    """The window's confidences against the version's first ``len(rows)`` predictions on
    this deployment (skipped until there are that many before the window)."""
    since = rows[-1][4]
    baseline = list(
        PredictionLog.objects.filter(
            deployment_id=deployment.pk, model_version_id=version_id, created_at__lt=since
        )
        .order_by("created_at", "id")
        .values_list("confidence", flat=True)[: len(rows)]
    )
    if len(baseline) < len(rows):
        return ml.DriftTest("confidence", 0.0, 1.0, 0)
    return ml.confidence_drift(np.asarray(baseline), np.asarray([row[2] for row in rows]))


def drift_check_all(*, now: datetime | None = None) -> int:
    """``drift_check`` every deployment that predicted since its last check. Returns how
    many were checked (an error in one is logged; the others still run)."""
    checked = 0
    for deployment_id in Deployment.objects.values_list("id", flat=True):
        try:
            drift_check(deployment_id=deployment_id, now=now)
            checked += 1
        except Exception:  # noqa: BLE001 - one deployment's failure must not stop the rest
            logger.exception("drift check of deployment %s failed", deployment_id)
    return checked


def drift_alert_acknowledge(*, alert: DriftAlert, user: Any) -> DriftAlert:
    """Mark the alert seen (idempotent). A later drift opens a new one."""
    with transaction.atomic():
        alert = DriftAlert.objects.select_for_update().get(pk=alert.pk)
        if not alert.acknowledged:
            alert.acknowledged = True
            alert.acknowledged_at = timezone.now()
            alert.acknowledged_by = user if getattr(user, "pk", None) else None
            alert.save(update_fields=["acknowledged", "acknowledged_at", "acknowledged_by"])
    return alert
