"""Images and the jobs that bring them in."""

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel, Job
from apps.projects.models import Label, Project


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    VAL = "val", "Validation"
    TEST = "test", "Test"


class Image(BaseModel):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        ZIP = "zip", "Zip import"
        URL = "url", "URL import"
        CSV = "csv", "CSV import"
        PREDICTION = "prediction", "Prediction log"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images")
    # Single-label projects use `label`; multi-label projects use `extra_labels` as well.
    label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    extra_labels = models.ManyToManyField(Label, blank=True, related_name="multi_images")
    split = models.CharField(max_length=5, choices=Split.choices, blank=True, default="")
    # True when the split came from the data itself (a zip's train/val/test folder):
    # automatic rebalancing never moves such an image.
    split_locked = models.BooleanField(default=False)

    sha256 = models.CharField(max_length=64)
    # Generated storage names, never the uploaded name.
    original = models.FileField(max_length=255)
    normalized = models.FileField(max_length=255)  # RGB JPEG, EXIF orientation applied
    thumbnail = models.FileField(max_length=255)
    original_filename = models.CharField(max_length=255)
    format = models.CharField(max_length=10)  # Pillow's format name: JPEG, PNG, ...
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size_bytes = models.PositiveBigIntegerField()
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.UPLOAD)
    source_url = models.URLField(max_length=2000, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Columns attached from a CSV (camera, site, date...): {column: text value}, for slices.
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "sha256"], name="image_unique_sha256")
        ]
        indexes = [
            models.Index(fields=["project", "label", "-id"]),
            models.Index(fields=["project", "split", "-id"]),
            models.Index(fields=["project", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.original_filename} ({self.sha256[:8]})"


class ImportJob(Job):
    """A background import (zip, list of URLs, CSV of url,label rows), run by the job
    machine (apps.core.jobs): status, attempts, worker, heartbeat and error come from Job."""

    class Kind(models.TextChoices):
        ZIP = "zip", "Zip archive"
        URLS = "urls", "URL list"
        CSV = "csv", "CSV of url,label"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    kind = models.CharField(max_length=5, choices=Kind.choices)
    upload = models.FileField(max_length=255, blank=True)  # the zip or CSV, generated name
    upload_filename = models.CharField(max_length=255, blank=True)
    urls = models.JSONField(default=list, blank=True)  # [{"url": ..., "label": ...}]
    label = models.CharField(max_length=100, blank=True)  # default label for URL lists
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    # {"created": [...], "duplicates": [...], "rejected": [...]} as for direct uploads.
    report = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-id"]

    @property
    def progress(self) -> float:
        return (self.processed / self.total) if self.total else 0.0


class RejectionCount(models.Model):
    """How many files a project turned away as duplicates (shown in the dataset stats)."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="rejection_count"
    )
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.project_id}: {self.duplicates} duplicates, {self.rejected} rejected"
