"""A project's retraining policy and what it last did."""

from django.db import models
from django.utils import timezone

from apps.projects.models import Project
from apps.training.models import TrainingJob


class RetrainPolicy(models.Model):
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="retrain_policy")
    enabled = models.BooleanField(default=False)
    # Retrain once this many labels were given or changed since the last model (None: never
    # for this reason).
    new_labels = models.PositiveIntegerField(null=True, blank=True)
    # Retrain when a deployment of the project raises a drift alert.
    on_drift = models.BooleanField(default=False)
    # Retrain when the last model (or the last retraining) is this many hours old.
    every_hours = models.PositiveIntegerField(null=True, blank=True)
    mode = models.CharField(
        max_length=10, choices=TrainingJob.Mode.choices, default=TrainingJob.Mode.QUICK
    )
    # The shadow gate of the new candidate: promoted automatically after this many requests
    # when the comparison favours it (None: only promoted by hand).
    gate_min_requests = models.PositiveIntegerField(null=True, blank=True, default=200)
    last_triggered_at = models.DateTimeField(null=True, blank=True)
    last_reason = models.CharField(max_length=200, blank=True)
    last_job = models.ForeignKey(
        TrainingJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the last retraining came to, in a plain sentence.
    last_outcome = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"retraining policy of project {self.project_id}"
