"""Projects and labels through the API."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from apps.datasets.models import Image
from apps.labeling.models import LabelEvent
from apps.projects.models import Label, Project
from apps.training.models import ModelVersion
from tests.factories import ImageFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _version(project, number: int, accuracy: float | None) -> ModelVersion:
    metrics = {"accuracy": accuracy} if accuracy is not None else {}
    return ModelVersion.objects.create(
        project=project, number=number, backbone="efficientnet_lite0", mode="quick",
        labels=["ants", "bees"], metrics=metrics,
    )  # fmt: skip


def test_create_with_labels(auth_client, user):
    answer = auth_client.post(
        "/api/v1/projects/",
        {
            "name": "  Hymenoptera ",
            "description": "Field photos",
            "predicts": "Is it an ant or a bee?",
            "labels": ["ants", "bees", " ants ", "Bees"],
            "target_metric": "accuracy",
            "target_value": 0.95,
        },
        format="json",
    )
    assert answer.status_code == 201, answer.content
    data = answer.data
    assert data["name"] == "Hymenoptera" and data["predicts"] == "Is it an ant or a bee?"
    assert data["task_type"] == "single_label"
    assert data["target_display"] == "accuracy >= 0.95"
    assert [label["name"] for label in data["labels"]] == ["ants", "bees"]
    assert data["image_count"] == data["labeled_count"] == 0 and data["label_count"] == 2
    assert data["latest_accuracy"] is None
    assert Project.objects.get(id=data["id"]).owner == user


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x", "task_type": "regression"},
        {"name": "x", "target_value": 1.5},
        {"name": "x", "target_value": 0},
        {"name": "x", "labels": ["ok", "   "]},
    ],
)
def test_create_refuses_bad_input(auth_client, body):
    answer = auth_client.post("/api/v1/projects/", body, format="json")
    assert answer.status_code == 400
    assert answer.data["error"]["message"]
    assert not Project.objects.exists()


def test_multi_label_is_accepted_by_the_data_model(auth_client):
    answer = auth_client.post(
        "/api/v1/projects/", {"name": "Tags", "task_type": "multi_label"}, format="json"
    )
    assert answer.status_code == 201 and answer.data["task_type"] == "multi_label"


def test_list_has_counts_and_latest_accuracy(
    auth_client, user, other_user, django_assert_max_num_queries
):
    first = ProjectFactory(owner=user, labels=["ants", "bees"])
    ImageFactory.create_batch(3, project=first, label="ants")
    ImageFactory.create_batch(2, project=first)
    _version(first, 1, 0.71)
    _version(first, 2, 0.93)
    second = ProjectFactory(owner=user, labels=["cats"])
    _version(second, 1, None)
    ProjectFactory(owner=other_user)

    with django_assert_max_num_queries(3):  # count, page, labels
        answer = auth_client.get("/api/v1/projects/")
    assert answer.status_code == 200
    rows = {row["id"]: row for row in answer.data["results"]}
    assert set(rows) == {first.id, second.id}
    assert rows[first.id]["image_count"] == 5
    assert rows[first.id]["labeled_count"] == 3
    assert rows[first.id]["label_count"] == 2
    assert rows[first.id]["latest_accuracy"] == pytest.approx(0.93)
    assert rows[second.id]["latest_accuracy"] is None
    assert rows[second.id]["image_count"] == 0


def test_list_query_count_does_not_grow(auth_client, user, django_assert_max_num_queries):
    for _ in range(8):
        project = ProjectFactory(owner=user, labels=["a", "b"])
        _version(project, 1, 0.5)
    with django_assert_max_num_queries(3):
        answer = auth_client.get("/api/v1/projects/")
    assert answer.data["count"] == 8


def test_get_update_delete(auth_client, project, django_capture_on_commit_callbacks):
    url = f"/api/v1/projects/{project.id}/"
    assert auth_client.get(url).data["name"] == "Ants or bees"
    answer = auth_client.patch(url, {"name": "Bugs", "target_value": 0.8}, format="json")
    assert answer.status_code == 200
    assert answer.data["name"] == "Bugs" and answer.data["target_value"] == 0.8
    assert auth_client.patch(url, {"target_metric": "auc"}, format="json").status_code == 400

    image = ImageFactory(project=project, label="ants")
    assert default_storage.exists(image.original.name)
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.delete(url).status_code == 204
    assert not Project.objects.filter(id=project.id).exists()
    assert not Image.objects.filter(id=image.id).exists()
    assert not default_storage.exists(image.original.name)
    assert not default_storage.exists(f"projects/{project.id}")


def test_labels_crud(auth_client, project, user):
    base = f"/api/v1/projects/{project.id}/labels/"
    ImageFactory.create_batch(2, project=project, label="ants")
    listing = auth_client.get(base).data
    assert [(row["name"], row["image_count"]) for row in listing] == [("ants", 2), ("bees", 0)]

    answer = auth_client.post(base, {"name": " wasps "}, format="json")
    assert answer.status_code == 201 and answer.data["name"] == "wasps"
    assert answer.data["image_count"] == 0
    duplicate = auth_client.post(base, {"name": "WASPS"}, format="json")
    assert duplicate.status_code == 400 and duplicate.data["error"]["code"] == "label_exists"
    assert auth_client.post(base, {"name": "  "}, format="json").status_code == 400

    ants = Label.objects.get(project=project, name="ants")
    renamed = auth_client.patch(f"{base}{ants.id}/", {"name": "Formicidae"}, format="json")
    assert renamed.status_code == 200
    assert renamed.data["name"] == "Formicidae" and renamed.data["image_count"] == 2
    clash = auth_client.patch(f"{base}{ants.id}/", {"name": "bees"}, format="json")
    assert clash.status_code == 400

    # Deleting a label keeps its images, unlabeled, each with a history entry.
    assert auth_client.delete(f"{base}{ants.id}/").status_code == 204
    assert Image.objects.filter(project=project).count() == 2
    assert Image.objects.filter(project=project, label__isnull=True).count() == 2
    events = LabelEvent.objects.filter(old_label_name="Formicidae", new_label_name="")
    assert events.count() == 2 and {e.actor_id for e in events} == {user.id}


def test_other_users_get_404_everywhere(other_client, project):
    label = project.labels.first()
    base = f"/api/v1/projects/{project.id}/"
    assert other_client.get(base).status_code == 404
    assert other_client.patch(base, {"name": "mine"}, format="json").status_code == 404
    assert other_client.delete(base).status_code == 404
    assert other_client.get(f"{base}labels/").status_code == 404
    assert other_client.post(f"{base}labels/", {"name": "x"}, format="json").status_code == 404
    assert other_client.get(f"{base}labels/{label.id}/").status_code == 404
    assert other_client.patch(f"{base}labels/{label.id}/", {"name": "x"}).status_code == 404
    assert other_client.delete(f"{base}labels/{label.id}/").status_code == 404
    assert other_client.get("/api/v1/projects/").data["count"] == 0
    project.refresh_from_db()
    assert project.name == "Ants or bees" and project.labels.count() == 2


def test_a_label_of_another_project_is_404(auth_client, project, user):
    other = ProjectFactory(owner=user, labels=["cats"])
    cats = other.labels.get()
    answer = auth_client.patch(
        f"/api/v1/projects/{project.id}/labels/{cats.id}/", {"name": "dogs"}, format="json"
    )
    assert answer.status_code == 404


def test_a_wrong_colour_is_told_how_to_write_it(auth_client, project):
    label = project.labels.first()
    answer = auth_client.patch(
        f"/api/v1/projects/{project.id}/labels/{label.id}/", {"color": "red"}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "color: Give the colour as # and six hex digits, like #1c7ed6."
    )


def test_anonymous_is_refused(api_client):
    assert api_client.get("/api/v1/projects/").status_code in (401, 403)


def test_delete_a_project_with_a_deployment(auth_client, project):
    from apps.deployments.models import Deployment

    version = _version(project, 1, 0.9)
    Deployment.objects.create(project=project, slug="bugs", model_version=version)
    assert auth_client.delete(f"/api/v1/projects/{project.id}/").status_code == 204
    assert not Deployment.objects.exists() and not ModelVersion.objects.exists()
