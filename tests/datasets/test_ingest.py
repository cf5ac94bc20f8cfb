"""The ingestion service (apps.datasets.ingest): edge cases the API tests do not reach."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from apps.core.exceptions import ApplicationError
from apps.core.hooks import on_images_created, on_labels_changed
from apps.datasets.ingest import (
    LABEL_SOURCE_IMPORT,
    LABEL_SOURCE_USER,
    ImageIngestor,
    IncomingFile,
    filename_clean,
    image_ingest,
)
from apps.datasets.models import Image
from apps.labeling.models import LabelEvent
from tests.factories import make_jpeg_bytes

pytestmark = pytest.mark.django_db


def test_two_uploads_of_the_same_file_at_once_store_it_once(
    project, django_capture_on_commit_callbacks
):
    data = make_jpeg_bytes()
    first = ImageIngestor(project=project)
    second = ImageIngestor(project=project)
    first.add(IncomingFile(filename="a.jpg", data=data))
    second.add(IncomingFile(filename="b.jpg", data=data))  # not in the database yet
    second_files = [name for p in second._pending.values() for name in p.names]
    first.flush()
    with django_capture_on_commit_callbacks(execute=True):
        assert second.flush() == []
    assert Image.objects.filter(project=project).count() == 1
    stored = Image.objects.get(project=project)
    assert second.report.duplicates == [{"filename": "b.jpg", "existing_id": stored.id}]
    assert not any(default_storage.exists(name) for name in second_files)
    assert default_storage.exists(stored.original.name)


def test_a_failed_batch_deletes_its_files(project):
    ingestor = ImageIngestor(project=project)
    ingestor.add(IncomingFile(filename="a.jpg", data=make_jpeg_bytes()))
    names = [name for p in ingestor._pending.values() for name in p.names]
    assert all(default_storage.exists(name) for name in names)

    def boom() -> None:
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        ingestor.flush(before_commit=boom)
    assert not Image.objects.exists()
    assert not any(default_storage.exists(name) for name in names)


def test_image_ingest_raises_for_bad_and_duplicate_files(project):
    # apps.ml's ImageRejected stops at the service's edge: callers get an ApplicationError.
    with pytest.raises(ApplicationError) as rejected:
        image_ingest(project=project, data=b"<html></html>")
    assert type(rejected.value) is ApplicationError
    assert rejected.value.code == "not_an_image" and "HTML" in rejected.value.message
    data = make_jpeg_bytes()
    image = image_ingest(project=project, data=data, label="ants", split="val")
    assert image.label.name == "ants" and image.split == "val" and image.split_locked
    with pytest.raises(ApplicationError) as caught:
        image_ingest(project=project, data=data)
    assert caught.value.code == "duplicate" and caught.value.extra["existing_id"] == image.id


def test_a_folder_name_too_long_for_a_label_rejects_the_file(project):
    ingestor = ImageIngestor(project=project)
    ingestor.add(IncomingFile(filename="x.jpg", data=make_jpeg_bytes(), label="x" * 300))
    assert ingestor.report.rejected[0]["code"] == "invalid_label"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\cat.jpg", "cat.jpg"),
        ("  spaced.jpg ", "spaced.jpg"),
        ("\x00\x1b[31mred.jpg", "[31mred.jpg"),
        ("", "image"),
        ("a" * 300 + ".jpeg", "a" * 249 + "~.jpeg"),
    ],
)
def test_filename_clean(raw, shown):
    assert filename_clean(raw) == shown
    assert len(filename_clean(raw)) <= 255


def test_new_images_are_announced_through_the_hooks(project, user):
    created, labeled = [], []

    def on_created(*, image_ids):
        created.append(list(image_ids))

    def on_labeled(*, changes, actor, source):
        labeled.append(([(i, old, new.name) for i, old, new in changes], actor, source))

    on_images_created.connect(on_created)
    on_labels_changed.connect(on_labeled)
    try:
        ingestor = ImageIngestor(project=project, uploaded_by=user, label_source="import")
        ingestor.add(IncomingFile(filename="a.jpg", data=make_jpeg_bytes(), label="ants"))
        ingestor.add(IncomingFile(filename="b.jpg", data=make_jpeg_bytes()))
        ids = ingestor.flush()
        assert ingestor.flush() == []  # nothing new: nothing announced
    finally:
        on_images_created.disconnect(on_created)
        on_labels_changed.disconnect(on_labeled)
    assert created == [ids]
    assert labeled == [([(ids[0], None, "ants")], user, "import")]


def test_label_sources_are_label_event_sources():
    assert LABEL_SOURCE_USER == LabelEvent.Source.USER
    assert LABEL_SOURCE_IMPORT == LabelEvent.Source.IMPORT


def test_a_labeled_image_gets_its_first_history_entry(project, user):
    image = image_ingest(project=project, data=make_jpeg_bytes(), label="ants", uploaded_by=user)
    event = LabelEvent.objects.get(image=image)
    assert (event.old_label, event.new_label_name, event.actor, event.source) == (
        None,
        "ants",
        user,
        "user",
    )
