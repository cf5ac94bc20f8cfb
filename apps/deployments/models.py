"""A deployment serves one model version at /api/v1/predict/<slug>/."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from apps.core.models import BaseModel
from apps.datasets.models import Image
from apps.projects.models import Project
from apps.training.models import ModelVersion


class Deployment(BaseModel):
    class Precision(models.TextChoices):
        FP32 = "fp32", "fp32 (float, as trained)"
        INT8 = "int8", "int8 (quantized)"

    class CandidateMode(models.TextChoices):
        CANARY = "canary", "Canary (answers a share of the requests)"
        SHADOW = "shadow", "Shadow (runs beside the live version, answers nothing)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deployments")
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200, blank=True)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    # A prediction whose top confidence is under this is flagged "uncertain".
    threshold = models.FloatField(default=0.6)
    store_images = models.BooleanField(default=True)
    rate_limit = models.CharField(max_length=20, default="600/min")
    # Which of the version's graphs serves: its fp32 ``onnx_file`` or its ``int8_onnx_file``.
    precision = models.CharField(max_length=4, choices=Precision.choices, default=Precision.FP32)
    # A canary (``apps.deployments.canary``): this version answers ``candidate_percent`` % of
    # the requests, the live one the rest. None when no rollout is under way.
    candidate_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    candidate_percent = models.PositiveSmallIntegerField(default=0)
    candidate_since = models.DateTimeField(null=True, blank=True)
    # How the candidate takes part (``apps.deployments.shadow``): "canary" answers a share of
    # the requests; "shadow" answers none, it runs on the live requests' inputs off the request
    # path and both answers are kept (``ShadowResult``).
    candidate_mode = models.CharField(
        max_length=6, choices=CandidateMode.choices, default=CandidateMode.CANARY
    )
    # Shadow inputs dropped because the shadow queue of a web process was full.
    shadow_dropped = models.PositiveIntegerField(default=0)
    # The promotion gate (``apps.deployments.shadow_gate``): None = no gate. Otherwise the
    # candidate is promoted by itself after this many shadow requests when the answers favour
    # it and the model diff shows no label's recall falling.
    gate_min_requests = models.PositiveIntegerField(null=True, blank=True)
    gate_min_agreement = models.FloatField(default=0.95)
    # The gate's latest decision and why (kept after the rollout ends, so the Deploy page can
    # say why it promoted).
    gate_report = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.slug


class DeploymentChange(models.Model):
    """One change of the model version a deployment serves: when, who, from which version to
    which, and why. Numbers are kept beside the links, so the history still reads after a
    version is deleted."""

    class Reason(models.TextChoices):
        DEPLOY = "deploy", "Deployed"
        MANUAL = "manual", "Switched by hand"
        PROMOTION = "promotion", "Candidate promoted"
        ROLLBACK = "rollback", "Rolled back"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="changes")
    # None for the first version a deployment served.
    from_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_number = models.PositiveIntegerField(null=True, blank=True)
    to_version = models.ForeignKey(
        ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_number = models.PositiveIntegerField()
    reason = models.CharField(max_length=10, choices=Reason.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Newest first; ids break ties between changes made in the same instant.
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["deployment", "-id"], name="deployment_change_latest")]

    def __str__(self) -> str:
        return f"{self.deployment_id}: v{self.from_number} -> v{self.to_number} ({self.reason})"


class DeploymentApiKey(AbstractAPIKey):
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="api_keys")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "deployment API key"


class PredictionLog(models.Model):
    class Source(models.TextChoices):
        API = "api", "Prediction API (API key)"
        TRY = "try", "Tried in the browser"

    # The id the prediction's answer carries. Made in the request, before the row exists:
    # rows are written in the background, and feedback can name a prediction at once.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.CharField(max_length=3, choices=Source.choices, default=Source.API)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    label = models.CharField(max_length=100)
    confidence = models.FloatField()
    predictions = models.JSONField(default=list)
    uncertain = models.BooleanField(default=False)
    # How far the image lies from the model's training images, and whether that is farther
    # than the model's own training images usually lie (None: a model without a reference).
    ood_score = models.FloatField(null=True, blank=True)
    out_of_distribution = models.BooleanField(null=True, blank=True)
    # The image's embedding projected on its version's drift directions (``ml.drift``,
    # float16 bytes; None: a version without a reference). Read by apps.monitoring.
    sketch = models.BinaryField(null=True, blank=True)
    latency_ms = models.FloatField()
    image = models.FileField(max_length=255, blank=True)
    image_sha256 = models.CharField(max_length=64, blank=True)
    added_image = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        # Newest first. Rows are written in batches by each web process, so the id order is
        # only roughly the time order.
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["deployment", "-created_at"], name="predlog_deployment_time"),
            models.Index(
                fields=["deployment", "uncertain", "-created_at"], name="predlog_uncertain_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}: {self.label} ({self.confidence:.2f})"


class ShadowResult(models.Model):
    """One request answered by the live version and, off the request path, by a shadow
    candidate: both answers, and the true label once somebody settles a disagreement."""

    deployment = models.ForeignKey(
        Deployment, on_delete=models.CASCADE, related_name="shadow_results"
    )
    candidate_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    live_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    # The ``PredictionLog.uid`` of the live answer (rows of both logs are written in the
    # background, so this is a soft link).
    prediction_uid = models.UUIDField(db_index=True)
    live_label = models.CharField(max_length=100)
    live_confidence = models.FloatField()
    candidate_label = models.CharField(max_length=100)
    candidate_confidence = models.FloatField()
    agree = models.BooleanField()
    settled_label = models.CharField(max_length=100, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["deployment", "candidate_version", "agree", "-created_at"],
                name="shadow_deployment_agree",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.deployment_id}: {self.live_label} / {self.candidate_label}"
