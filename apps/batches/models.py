"""Batch predictions: a zip of images or a list of URLs classified in the background by a
deployment's model, one result row per input."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import Job
from apps.deployments.models import Deployment
from apps.training.models import ModelVersion


class BatchJob(Job):
    """One batch on the job machine (``apps.core.jobs``). What answers is frozen when the
    batch is submitted (the deployment's model version, precision and threshold), so a
    switch of the deployment while the batch runs does not mix two models in one result."""

    class Kind(models.TextChoices):
        ZIP = "zip", "Zip archive"
        URLS = "urls", "Image addresses"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=4, choices=Kind.choices)
    # The uploaded archive in the media storage (deleted once the batch has ended).
    archive = models.FileField(max_length=255, blank=True)
    archive_filename = models.CharField(max_length=255, blank=True)
    urls = models.JSONField(default=list, blank=True)
    # None once the version is deleted; its number stays for the record.
    model_version = models.ForeignKey(
        ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version_number = models.PositiveIntegerField()
    precision = models.CharField(max_length=4, choices=Deployment.Precision.choices)
    threshold = models.FloatField()
    total = models.PositiveIntegerField(default=0)
    # Rows written (``done``) and, among them, rows with an error; saved with each chunk of
    # rows, in the same transaction.
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["deployment", "-id"], name="batch_deployment_latest")]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.deployment_id}, {self.status})"


class BatchItem(models.Model):
    """The result for one input of a batch, in input order (``index`` from 0)."""

    batch = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveIntegerField()
    # The member's path in the archive, or the URL.
    name = models.CharField(max_length=2000)
    label = models.CharField(max_length=100, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    uncertain = models.BooleanField(null=True, blank=True)
    out_of_distribution = models.BooleanField(null=True, blank=True)
    # Why this input has no prediction ("" when it has one).
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["batch", "index"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "index"], name="batch_item_unique_index")
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}#{self.index}: {self.label or self.error[:40]}"
