"""Writes for labeling: setting labels one by one or in bulk, and unlabeling the images of
a deleted label; each change is recorded (``apps.labeling.events``)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.datasets.models import Image
from apps.datasets.splits import images_assign_splits, split_clean
from apps.labeling.events import label_events_record
from apps.labeling.models import LabelEvent
from apps.projects.models import Label, Project
from apps.projects.services import labels_get_or_create

# A sentinel for "the caller did not send this field" (None means "clear the label").
UNSET: Any = object()


def _label_resolve(*, project: Project, name: str | None, create: bool = True) -> Label | None:
    if name is None:
        return None
    if not isinstance(name, str):
        raise ApplicationError("The label must be a name (text) or null.", code="invalid_label")
    cleaned = " ".join(name.split())
    if not cleaned:
        return None
    if create:
        return labels_get_or_create(project=project, names=[cleaned])[cleaned]
    label = Label.objects.filter(project=project, name__iexact=cleaned).first()
    if label is None:
        raise ApplicationError(f'There is no label called "{cleaned}".', code="unknown_label")
    return label


def image_update(
    *,
    image: Image,
    label: str | None = UNSET,
    split: str | None = UNSET,
    actor: Any = None,
    source: str = LabelEvent.Source.USER,
) -> Image:
    """Change one image's label (a name, created if missing; None clears it) and/or its
    split. A split a user sets is locked: automatic assignment never moves it. A relabeled
    image keeps its split (see images_assign_splits)."""
    with transaction.atomic():
        fields: list[str] = []
        if label is not UNSET:
            new = _label_resolve(project=image.project, name=label)
            old = image.label
            if (old.pk if old else None) != (new.pk if new else None):
                label_events_record(changes=[(image.pk, old, new)], actor=actor, source=source)
                image.label = new
                fields.append("label")
        if split is not UNSET:
            image.split = split_clean(split)
            image.split_locked = bool(image.split)
            fields += ["split", "split_locked"]
        if fields:
            image.save(update_fields=[*fields, "updated_at"])
        if "label" in fields and image.label_id and not image.split:
            images_assign_splits(project_id=image.project_id)
            image.refresh_from_db(fields=["split"])
    return image


def images_bulk_label(
    *,
    project: Project,
    images: QuerySet[Image],
    label: str | None,
    actor: Any = None,
    source: str = LabelEvent.Source.USER,
) -> int:
    """Give every image of ``images`` (already limited to the project) the label ``label``
    (a name, created if missing; None clears). Returns how many images changed.

    A fixed number of queries however many images: one read of (id, old label), the
    events in batches, one UPDATE, and the split assignment."""
    with transaction.atomic():
        new = _label_resolve(project=project, name=label)
        new_id = new.pk if new else None
        to_change = images.filter(project=project)
        to_change = (
            to_change.exclude(label_id=new_id) if new_id else to_change.filter(label__isnull=False)
        )
        rows = list(to_change.order_by().values_list("id", "label_id"))
        if not rows:
            return 0
        labels = {lab.pk: lab for lab in Label.objects.filter(project=project)}
        label_events_record(
            changes=[(image_id, labels.get(old_id), new) for image_id, old_id in rows],
            actor=actor,
            source=source,
        )
        # The same filter as the read: one UPDATE, no list of ids in the SQL. On SQLite the
        # transaction holds the write lock from its start, so nothing changes in between.
        to_change.update(label=new, updated_at=timezone.now())
        if new_id:
            images_assign_splits(project_id=project.pk)
    return len(rows)


def label_images_unassign(*, label: Label, actor: Any = None) -> int:
    """Unlabel every image of ``label`` (about to be deleted), each with a history entry.
    Connected to ``apps.core.hooks.on_label_deleting`` (projects deletes the label).
    Returns how many images were unlabeled."""
    with transaction.atomic():
        images = Image.objects.filter(project_id=label.project_id, label=label)
        image_ids = list(images.values_list("id", flat=True))
        label_events_record(
            changes=[(image_id, label, None) for image_id in image_ids], actor=actor
        )
        images.update(label=None, updated_at=timezone.now())
    return len(image_ids)
