from django.db import models

from apps.core.models import BaseModel, Job
from apps.projects.models import Project

# Every event a webhook may subscribe to. Sent today: training.* (a training job's end) and
# deployment.changed (a deployment's served model changed); the others are accepted so a
# receiver can subscribe now and get them once their source exists.
EVENT_TYPES = (
    "training.succeeded",
    "training.failed",
    "batch.succeeded",
    "batch.failed",
    "drift.alert",
    "deployment.changed",
    "candidate.report",
)
# Sent by "send a test event" to one webhook, whatever it subscribed to.
TEST_EVENT = "webhook.test"


class Webhook(BaseModel):
    class Kind(models.TextChoices):
        GENERIC = "generic", "Signed JSON"
        SLACK = "slack", "Slack incoming webhook"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.GENERIC)
    events = models.JSONField(default=list)
    # Kept as is (not hashed): every delivery is signed with it. Shown once, at creation.
    secret = models.CharField(max_length=80)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"webhook {self.pk} -> {self.url}"


class WebhookDelivery(Job):
    """One event for one webhook: a job of the job machine (attempts, fencing, reaping).
    ``body`` is written once, so every retry sends the same bytes and the same event id."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(db_index=True)
    event_type = models.CharField(max_length=40)
    body = models.TextField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_id"], name="webhook_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} ({self.status})"


class WebhookAttempt(models.Model):
    """The delivery log: one row per try, with what the receiver answered."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="+")
    event_id = models.UUIDField()
    attempt = models.PositiveSmallIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # None: no answer
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.FloatField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["webhook", "-started_at"], name="webhook_attempt_latest")]

    def __str__(self) -> str:
        return f"{self.event_id} try {self.attempt}: {self.status_code or self.error}"
