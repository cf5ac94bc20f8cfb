"""The media storage helpers (apps.core.storage): one prefix per project, bulk deletes."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.core import storage
from apps.core.storage import (
    project_id_from_storage_name,
    project_storage_prefix,
    storage_files_delete,
    storage_files_delete_later,
    storage_prefix_delete,
    storage_prefix_delete_later,
)


def test_every_project_file_lives_under_its_prefix():
    assert project_storage_prefix(7) == "projects/7/"
    assert project_id_from_storage_name("projects/7/images/ab/original.jpg") == 7
    for name in ("projects/7/", "projects/x/a.jpg", "predictions/7/a.jpg", "projects", ""):
        assert project_id_from_storage_name(name) is None


def test_storage_prefix_delete_refuses_unsafe_prefixes():
    for prefix in ("", "/", "projects/../", "projects/1"):
        with pytest.raises(ValueError):
            storage_prefix_delete(prefix=prefix)
        with pytest.raises(ValueError):
            storage_prefix_delete_later(prefix=prefix)


def test_prefix_delete_removes_files_and_folders_of_that_project_only():
    mine = [f"{project_storage_prefix(1)}images/a/{n}.jpg" for n in "xyz"]
    other = f"{project_storage_prefix(11)}images/a/x.jpg"
    for name in [*mine, other]:
        default_storage.save(name, ContentFile(b"data"))
    assert storage_prefix_delete(prefix=project_storage_prefix(1)) == 3
    assert not default_storage.exists("projects/1")
    assert default_storage.exists(other)


def test_files_delete_is_best_effort():
    name = default_storage.save("projects/2/images/a/x.jpg", ContentFile(b"data"))
    assert storage_files_delete(names=[name, "projects/2/missing.jpg", ""]) >= 1
    assert not default_storage.exists(name)
    assert not default_storage.exists("projects/2/images/a")  # empty folder removed


@pytest.mark.django_db
def test_files_go_after_the_commit_and_many_go_to_workers(
    django_capture_on_commit_callbacks, monkeypatch
):
    names = [default_storage.save(f"projects/3/f{i}.jpg", ContentFile(b"d")) for i in range(3)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        storage_files_delete_later(names=names)
    assert all(default_storage.exists(n) for n in names) and len(callbacks) == 1
    callbacks[0]()
    assert not any(default_storage.exists(n) for n in names)

    chunks = []
    monkeypatch.setattr(storage, "INLINE_DELETE_MAX", 2)
    monkeypatch.setattr(storage, "DELETE_TASK_CHUNK", 2)
    monkeypatch.setattr(
        "apps.core.tasks.delete_stored_files.delay", lambda chunk: chunks.append(chunk)
    )
    with django_capture_on_commit_callbacks(execute=True):
        storage_files_delete_later(names=["a", "b", "c", ""])
    assert chunks == [["a", "b"], ["c"]]
