"""The label history: one LabelEvent per change of an image's label."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apps.labeling.models import LabelEvent
from apps.projects.models import Label

EVENT_BATCH = 2000


def label_events_record(
    *,
    changes: Iterable[tuple[int, Label | None, Label | None]],
    actor: Any = None,
    source: str = LabelEvent.Source.USER,
) -> int:
    """One LabelEvent per (image id, old label, new label) that really changes the label,
    written in bulk. Also connected to ``apps.core.hooks.on_labels_changed`` (new images
    that arrive with a label). Returns how many events were written."""
    actor_id = getattr(actor, "pk", None)
    events = [
        LabelEvent(
            image_id=image_id,
            old_label=old,
            new_label=new,
            old_label_name=old.name if old else "",
            new_label_name=new.name if new else "",
            actor_id=actor_id,
            source=source,
        )
        for image_id, old, new in changes
        if (old.pk if old else None) != (new.pk if new else None)
    ]
    LabelEvent.objects.bulk_create(events, batch_size=EVENT_BATCH)
    return len(events)
