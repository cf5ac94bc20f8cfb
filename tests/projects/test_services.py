"""Project and label deletion: what the layers above are told, and the files that go."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.core.hooks import on_label_deleting, on_project_deleting
from apps.core.storage import project_storage_prefix
from apps.projects.models import Label, Project
from apps.projects.services import label_delete, project_delete

pytestmark = pytest.mark.django_db


@pytest.fixture
def told():
    calls = []

    def on_project(*, project):
        calls.append(("project", project.pk, Project.objects.filter(pk=project.pk).exists()))

    def on_label(*, label, actor):
        calls.append(("label", label.pk, Label.objects.filter(pk=label.pk).exists()))

    on_project_deleting.connect(on_project)
    on_label_deleting.connect(on_label)
    yield calls
    on_project_deleting.disconnect(on_project)
    on_label_deleting.disconnect(on_label)


def test_project_delete_tells_the_apps_above_first_then_deletes_its_files(
    project, told, django_capture_on_commit_callbacks
):
    name = default_storage.save(
        f"{project_storage_prefix(project.pk)}models/1/model.onnx", ContentFile(b"m")
    )
    project_id = project.pk
    with django_capture_on_commit_callbacks(execute=True):
        project_delete(project=project)
    assert told == [("project", project_id, True)]  # told while the row still exists
    assert not Project.objects.filter(pk=project_id).exists()
    assert not default_storage.exists(name)


def test_label_delete_tells_labeling_first(project, told):
    label = project.labels.get(name="ants")
    label_id = label.pk
    label_delete(label=label)
    assert told == [("label", label_id, True)]
    assert not Label.objects.filter(pk=label_id).exists()
