"""Problem definition: a project says what it predicts, with which labels, and what
accuracy counts as good enough."""

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


class Project(BaseModel):
    class TaskType(models.TextChoices):
        SINGLE_LABEL = "single_label", "One label per image"
        # The data model holds several labels per image (Image.extra_labels); training for
        # it comes later, so the training service refuses it with a clear message.
        MULTI_LABEL = "multi_label", "Several labels per image"

    class TargetMetric(models.TextChoices):
        ACCURACY = "accuracy", "Accuracy"
        MACRO_F1 = "macro_f1", "Macro F1"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # "What do you want to predict?" in the user's words, e.g. "Is it an ant or a bee?"
    predicts = models.CharField(max_length=300, blank=True)
    task_type = models.CharField(
        max_length=20, choices=TaskType.choices, default=TaskType.SINGLE_LABEL
    )
    target_metric = models.CharField(
        max_length=20, choices=TargetMetric.choices, default=TargetMetric.ACCURACY
    )
    target_value = models.FloatField(default=0.9)
    backbone = models.CharField(max_length=50, default="efficientnet_lite0")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def target_display(self) -> str:
        return f"{self.target_metric} >= {self.target_value:g}"


class Label(BaseModel):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="label_unique_per_project")
        ]

    def __str__(self) -> str:
        return self.name
