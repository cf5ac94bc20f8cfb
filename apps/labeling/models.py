"""Who changed which image's label, when, and how."""

from django.conf import settings
from django.db import models

from apps.datasets.models import Image
from apps.projects.models import Label


class LabelEvent(models.Model):
    class Source(models.TextChoices):
        USER = "user", "User"
        IMPORT = "import", "Import (folder name or CSV)"
        SUGGESTION = "suggestion", "Model suggestion accepted by a user"
        PREDICTION = "prediction", "Added from the prediction log"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="label_events")
    # Names are kept as text too, so the history reads right after a label is renamed or deleted.
    old_label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    new_label = models.ForeignKey(
        Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    old_label_name = models.CharField(max_length=100, blank=True)
    new_label_name = models.CharField(max_length=100, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.USER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["image", "-id"])]

    def __str__(self) -> str:
        return (
            f"image {self.image_id}: {self.old_label_name or '-'} -> {self.new_label_name or '-'}"
        )
