"""The label history (apps.labeling.events) and the hooks that feed it from below."""

from __future__ import annotations

import pytest

from apps.labeling.events import label_events_record
from apps.labeling.models import LabelEvent
from apps.projects.services import label_delete
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db


def test_only_real_changes_are_recorded(project, user):
    ants, bees = project.labels.get(name="ants"), project.labels.get(name="bees")
    image = ImageFactory(project=project)
    written = label_events_record(
        changes=[(image.pk, None, ants), (image.pk, ants, ants), (image.pk, ants, bees)],
        actor=user,
        source=LabelEvent.Source.SUGGESTION,
    )
    assert written == 2
    events = list(LabelEvent.objects.filter(image=image).order_by("id"))
    assert [(e.old_label_name, e.new_label_name) for e in events] == [
        ("", "ants"),
        ("ants", "bees"),
    ]
    assert all(e.actor == user and e.source == "suggestion" for e in events)


def test_images_imported_with_a_label_get_their_first_entry(project):
    image = ImageFactory(project=project, label="ants")
    [event] = LabelEvent.objects.filter(image=image)
    assert (event.old_label, event.new_label_name, event.source) == (None, "ants", "user")


def test_deleting_a_label_unlabels_its_images_with_history(project, user):
    ants = project.labels.get(name="ants")
    labeled = ImageFactory.create_batch(2, project=project, label="ants")
    other = ImageFactory(project=project, label="bees")
    label_delete(label=ants, actor=user)
    assert not project.labels.filter(name="ants").exists()
    for image in labeled:
        image.refresh_from_db()
        assert image.label is None
        last = LabelEvent.objects.filter(image=image).order_by("-id").first()
        assert (last.old_label_name, last.new_label_name, last.actor) == ("ants", "", user)
    other.refresh_from_db()
    assert other.label.name == "bees"
