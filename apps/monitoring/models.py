"""A deployment's drift settings and state, and the alerts its drift checks raised."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.deployments.models import Deployment
from apps.training.models import ModelVersion


class MonitoringSettings(models.Model):
    """How a deployment's drift is judged (thresholds settable by its owner) and the last
    check's outcome. One row per deployment, made on first use."""

    deployment = models.OneToOneField(
        Deployment, on_delete=models.CASCADE, related_name="monitoring"
    )
    enabled = models.BooleanField(default=True)
    # The test looks at this many of the latest predictions.
    window = models.PositiveIntegerField(default=400)
    # A drift p-value under this raises an alert (webhook ``drift.alert``), under
    # ``warning_p`` a warning (shown, not sent).
    alert_p = models.FloatField(default=0.01)
    warning_p = models.FloatField(default=0.05)
    # The last check: when, up to which prediction, and what it found.
    checked_at = models.DateTimeField(null=True, blank=True)
    checked_until = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=7, default="ok")
    score = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)
    tests = models.JSONField(default=list, blank=True)
    window_since = models.DateTimeField(null=True, blank=True)
    window_size = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"monitoring of {self.deployment_id}: {self.status}"


class DriftAlert(models.Model):
    """A window of predictions whose embeddings moved away from the training images. Kept
    open (and updated by later checks) until its owner acknowledges it."""

    class Status(models.TextChoices):
        WARNING = "warning", "Warning"
        ALERT = "alert", "Alert"

    deployment = models.ForeignKey(
        Deployment, on_delete=models.CASCADE, related_name="drift_alerts"
    )
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=7, choices=Status.choices)
    score = models.FloatField()
    p_value = models.FloatField()
    # How many predictions the window held, and the time of its first one.
    window = models.PositiveIntegerField()
    since = models.DateTimeField()
    tests = models.JSONField(default=list, blank=True)
    # The window's predictions farthest from the training images (uids, images kept).
    sample_prediction_uids = models.JSONField(default=list, blank=True)
    acknowledged = models.BooleanField(default=False)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["deployment", "-created_at"], name="driftalert_deployment_time")
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}: {self.status} (p={self.p_value:.2g})"
