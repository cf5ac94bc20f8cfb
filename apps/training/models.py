"""Training jobs, the cached embeddings quick mode trains on (and the jobs that compute
them), and model versions. Both job models run on the job machine (``apps.core.jobs``)."""

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel, Job
from apps.datasets.models import Image
from apps.projects.models import Project


class Embedding(models.Model):
    """A frozen backbone's feature vector for one image (float32 bytes), computed once."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="embeddings")
    backbone = models.CharField(max_length=50)
    vector = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "backbone"], name="embedding_unique")
        ]

    def __str__(self) -> str:
        return f"image {self.image_id} ({self.backbone})"


class EmbeddingJob(Job):
    """Embed one chunk of freshly stored images. An upload becomes several chunks, so that
    every worker process takes one and a big upload is embedded that many times faster."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    image_ids = models.JSONField(default=list)
    # How many embeddings the job stored (images already embedded are skipped).
    embedded = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"embedding job {self.pk} ({len(self.image_ids)} images)"


class TrainingJob(Job):
    class Mode(models.TextChoices):
        # "quick" is the stored name of fast mode (the API accepts "fast" for it).
        QUICK = "quick", "Fast (frozen EfficientNet-Lite0 or the project's backbone)"
        ACCURATE = "accurate", "Accurate (frozen EfficientNet-Lite2)"
        FINETUNE = "finetune", "Fine-tune"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="training_jobs")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.QUICK)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=30, blank=True)
    # {"history": [{"epoch", "loss", "accuracy", "val_accuracy"}], ...}: drawn live.
    metrics = models.JSONField(default=dict, blank=True)
    # What happened to each attempt, in plain sentences (tracebacks go to the worker's log).
    log = models.TextField(blank=True)
    # The (image id, label name, split) rows frozen when the job was created
    # ([{"id", "label", "split"}]): later labeling never changes what a job trains on.
    snapshot = models.JSONField(default=list, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # The storage name of the latest fine-tuning checkpoint (a retried attempt resumes from
    # it); emptied, and the file deleted, when the job ends.
    checkpoint = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    model_version = models.OneToOneField(
        "ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-id"]


# Modes whose model is a linear head on a frozen backbone's cached embeddings (its head file
# scores any image's embedding of that backbone).
FROZEN_FEATURE_MODES = (TrainingJob.Mode.QUICK, TrainingJob.Mode.ACCURATE)
# Accurate mode's backbone, whatever the project's: a linear head on EfficientNet-Lite2's
# frozen features (260 px) reached 96.1 % on hymenoptera val/ where Lite0's reached 94.8 %.
ACCURATE_BACKBONE = "efficientnet_lite2"


class ModelVersion(BaseModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    number = models.PositiveIntegerField()
    backbone = models.CharField(max_length=50)
    mode = models.CharField(max_length=10, choices=TrainingJob.Mode.choices)
    # Class names in the order of the model's outputs.
    labels = models.JSONField(default=list)
    # The frozen (image id, label name, split) rows this version was trained and tested on.
    snapshot = models.JSONField(default=list)
    # SHA-256 of the snapshot (``ml.snapshot_hash``): versions trained on the same images,
    # labels and splits have the same one.
    data_hash = models.CharField(max_length=64, blank=True)
    # Every parameter the training used (``ml.training_parameters``: mode, backbone, the
    # specs' regularisation, steps or epochs, seeds...); {} for versions trained before
    # they were recorded.
    parameters = models.JSONField(default=dict, blank=True)
    # accuracy, per_class, confusion_matrix, ece, misclassified, history, ...
    metrics = models.JSONField(default=dict)
    onnx_file = models.FileField(max_length=255)
    head_file = models.FileField(max_length=255)
    # Fine-tuned versions only: the whole network's state dict (the head alone is not enough).
    model_file = models.FileField(max_length=255, blank=True)
    # Quick mode only: the L2-normalised embeddings the model was trained on (float16 .npy),
    # the reference that serving scores out-of-distribution requests against. Blank for
    # fine-tuned versions and versions trained before it existed.
    ood_file = models.FileField(max_length=255, blank=True)
    # The statically quantized (INT8) copy of ``onnx_file`` (``apps.training.compression``);
    # blank when quantization failed (``metrics["int8"]["error"]``) or for older versions.
    int8_onnx_file = models.FileField(max_length=255, blank=True)
    training_job = models.ForeignKey(
        TrainingJob, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="model_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.number}"


class CompressionJob(Job):
    """The INT8 copy of one model version (``apps.training.compression_jobs``), made after
    the version is saved: quantizing, calibrating and timing take seconds that would
    otherwise delay every model (a fast-mode model is ready in under a second)."""

    model_version = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, related_name="compression_job"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"compression job {self.pk} (model version {self.model_version_id})"


class HealthJob(Job):
    """One computation of a project's data health report (``apps.training.health``). The
    newest job says whether a report is being computed; the newest succeeded one holds it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="health_jobs")
    # The version whose backbone (and head, for the suggestions) the report used; None when
    # the project had no model yet.
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    computed_at = models.DateTimeField(null=True, blank=True)
    # {"value", "low", "high", "images"}: accuracy of out-of-sample (cross-validated)
    # predictions with its 95 % interval; None with fewer than 2 labelled classes.
    cv_accuracy = models.JSONField(null=True, blank=True)
    # [{"image", "label", "suggested", "score"}], most likely wrong first.
    label_issues = models.JSONField(default=list, blank=True)
    # [{"images": [a, b], "similarity", "cross_split"}], train/test leaks first.
    near_duplicates = models.JSONField(default=list, blank=True)
    # [{"image", "score"}], strangest first.
    outliers = models.JSONField(default=list, blank=True)
    # The model's guess for each then-unlabelled image: [[image, label, confidence, margin]]
    # (the "label next" queue is ordered from it at read time).
    predictions = models.JSONField(default=list, blank=True)
    # What the insights endpoints read (``apps.training.insights``), so the web process never
    # runs torch. {"labels", "sources", "model_version", "images": [[image, label, predicted,
    # confidence, split]]}: one out-of-sample prediction per labelled image; None with fewer
    # than 2 labelled classes.
    out_of_sample = models.JSONField(null=True, blank=True)
    # {"images", "points", "fit", "advice"}: the learning curve as the API shows it.
    learning_curve = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"health job {self.pk} (project {self.project_id})"


class HealthDismissal(models.Model):
    """An issue the user looked at and kept. A "label" dismissal holds for the label the
    image had then: relabelling the image brings the issue back if it is found again."""

    class Kind(models.TextChoices):
        LABEL = "label", "Label issue"
        DUPLICATE = "duplicate", "Near-duplicate"
        OUTLIER = "outlier", "Outlier"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # kind "label": the label kept (its id; a rename is the same label). Null otherwise.
    label = models.ForeignKey(
        "projects.Label", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["image", "kind", "label"], name="health_dismissal_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} dismissed for image {self.image_id}"
