"""Reads for labeling: an image's label history."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.datasets.models import Image
from apps.labeling.models import LabelEvent


def label_event_list(*, image: Image) -> QuerySet[LabelEvent]:
    """Newest first; names are the ones at the time of the change."""
    return LabelEvent.objects.filter(image=image).select_related("actor").order_by("-id")
