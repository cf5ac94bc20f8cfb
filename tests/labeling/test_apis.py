"""Listing, filtering, labeling (one and many), deleting, history and statistics."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from apps.datasets.models import Image, RejectionCount
from apps.labeling.models import LabelEvent
from apps.projects.models import Label
from tests.conftest import stored_file_url
from tests.factories import ImageFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def images(project):
    """6 ants, 3 bees, 4 unlabeled."""
    return {
        "ants": ImageFactory.create_batch(6, project=project, label="ants"),
        "bees": ImageFactory.create_batch(3, project=project, label="bees"),
        None: ImageFactory.create_batch(4, project=project),
    }


def _images_url(project, suffix: str = "") -> str:
    return f"/api/v1/projects/{project.id}/images/{suffix}"


def test_list_filters_and_pagination(auth_client, project, images):
    answer = auth_client.get(_images_url(project), {"page_size": 5})
    assert answer.status_code == 200
    assert answer.data["count"] == 13 and len(answer.data["results"]) == 5
    ids = [item["id"] for item in answer.data["results"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    page3 = auth_client.get(_images_url(project), {"page_size": 5, "page": 3}).data
    assert len(page3["results"]) == 3

    ants = auth_client.get(_images_url(project), {"label": "ants"}).data
    assert ants["count"] == 6 and {i["label"] for i in ants["results"]} == {"ants"}
    assert auth_client.get(_images_url(project), {"label": "ANTS"}).data["count"] == 6
    assert auth_client.get(_images_url(project), {"label": "wasps"}).data["count"] == 0
    unlabeled = auth_client.get(_images_url(project), {"unlabeled": "true"}).data
    assert unlabeled["count"] == 4 and {i["label"] for i in unlabeled["results"]} == {None}
    train = auth_client.get(_images_url(project), {"split": "train"}).data
    assert train["count"] == Image.objects.filter(project=project, split="train").count() > 0
    ascending = auth_client.get(_images_url(project), {"ordering": "id"}).data["results"]
    assert ascending[0]["id"] == min(i.id for group in images.values() for i in group)
    assert auth_client.get(_images_url(project), {"ordering": "size_bytes"}).status_code == 400
    assert auth_client.get(_images_url(project), {"split": "holdout"}).status_code == 400


def test_list_items_have_absolute_urls(auth_client, project, images):
    item = auth_client.get(_images_url(project), {"label": "bees"}).data["results"][0]
    assert set(item) >= {
        "id", "filename", "label", "split", "width", "height", "format", "size_bytes",
        "sha256", "source", "created_at", "thumbnail_url", "file_url", "original_url",
    }  # fmt: skip
    image = Image.objects.get(id=item["id"])
    assert item["thumbnail_url"].split("?", 1)[0] == stored_file_url(image.thumbnail.name)
    assert item["file_url"].split("?", 1)[0] == stored_file_url(image.normalized.name)
    assert item["original_url"].split("?", 1)[0] == stored_file_url(image.original.name)


def test_list_and_stats_query_counts_do_not_grow(
    auth_client, project, images, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):  # project, label id, count, page
        auth_client.get(_images_url(project), {"label": "ants", "page_size": 100})
    with django_assert_max_num_queries(3):  # project, count, page (label joined)
        answer = auth_client.get(_images_url(project), {"page_size": 100})
    assert len(answer.data["results"]) == 13
    with django_assert_max_num_queries(4):  # project, labels, GROUP BY, counters
        auth_client.get(f"/api/v1/projects/{project.id}/stats/")


def test_patch_label_and_split_with_history(auth_client, project, images, user):
    image = images[None][0]
    url = _images_url(project, f"{image.id}/")
    answer = auth_client.patch(url, {"label": "ants"}, format="json")
    assert answer.status_code == 200
    assert answer.data["label"] == "ants" and answer.data["split"] in ("train", "val", "test")
    answer = auth_client.patch(url, {"label": "hornets"}, format="json")  # created
    assert answer.data["label"] == "hornets"
    assert Label.objects.filter(project=project, name="hornets").exists()
    answer = auth_client.patch(url, {"split": "val"}, format="json")
    assert answer.data["split"] == "val" and answer.data["split_locked"] is True
    answer = auth_client.patch(url, {"label": None}, format="json")
    assert answer.data["label"] is None and answer.data["split"] == "val"
    assert auth_client.patch(url, {"split": "nope"}, format="json").status_code == 400

    history = auth_client.get(_images_url(project, f"{image.id}/history/")).data
    changes = [(e["old_label"], e["new_label"]) for e in history["results"]]
    assert changes == [("hornets", ""), ("ants", "hornets"), ("", "ants")]
    assert {e["actor"] for e in history["results"]} == {user.username}
    assert {e["source"] for e in history["results"]} == {"user"}


def test_history_keeps_names_after_a_label_is_renamed(auth_client, project, images):
    image = images["ants"][0]
    label = Label.objects.get(project=project, name="ants")
    auth_client.patch(f"/api/v1/projects/{project.id}/labels/{label.id}/", {"name": "Formicidae"})
    history = auth_client.get(_images_url(project, f"{image.id}/history/")).data["results"]
    assert history[0]["new_label"] == "ants" and history[0]["source"] == "user"
    assert auth_client.get(_images_url(project, f"{image.id}/")).data["label"] == "Formicidae"


def test_bulk_label_by_ids_and_clear(auth_client, project, images, user):
    ids = [i.id for i in images[None][:3]] + [images["ants"][0].id]
    answer = auth_client.post(
        _images_url(project, "bulk-label/"), {"image_ids": ids, "label": "bees"}, format="json"
    )
    assert answer.status_code == 200 and answer.data == {"updated": 4}
    assert Image.objects.filter(id__in=ids, label__name="bees").count() == 4
    assert not Image.objects.filter(id__in=ids, split="").exists()
    events = LabelEvent.objects.filter(image_id__in=ids, new_label_name="bees")
    assert events.count() == 4 and set(events.values_list("actor", flat=True)) == {user.id}
    assert events.filter(old_label_name="ants").count() == 1
    # Labeling again changes nothing and records nothing.
    again = auth_client.post(
        _images_url(project, "bulk-label/"), {"image_ids": ids, "label": "bees"}, format="json"
    )
    assert again.data == {"updated": 0}
    assert LabelEvent.objects.filter(image_id__in=ids, new_label_name="bees").count() == 4
    cleared = auth_client.post(
        _images_url(project, "bulk-label/"), {"image_ids": ids, "label": None}, format="json"
    )
    assert cleared.data == {"updated": 4}
    assert Image.objects.filter(id__in=ids, label__isnull=True).count() == 4


def test_bulk_label_by_filter(auth_client, project, images, django_assert_max_num_queries):
    with django_assert_max_num_queries(16):  # fixed: does not grow with the selection
        answer = auth_client.post(
            _images_url(project, "bulk-label/"),
            {"filter": {"unlabeled": True}, "label": "wasps"},
            format="json",
        )
    assert answer.data == {"updated": 4}
    assert Image.objects.filter(project=project, label__isnull=True).count() == 0
    answer = auth_client.post(
        _images_url(project, "bulk-label/"),
        {"filter": {"label": "wasps"}, "label": "ants"},
        format="json",
    )
    assert answer.data == {"updated": 4}
    assert Image.objects.filter(project=project, label__name="ants").count() == 10


def test_accepted_suggestions_are_recorded_as_such(auth_client, project, images):
    image = images[None][0]
    answer = auth_client.patch(
        _images_url(project, f"{image.id}/"), {"label": "bees", "source": "suggestion"}
    )
    assert answer.status_code == 200
    auth_client.post(
        _images_url(project, "bulk-label/"),
        {"image_ids": [images[None][1].id], "label": "ants", "source": "suggestion"},
        format="json",
    )
    assert LabelEvent.objects.filter(source="suggestion").count() == 2
    bad = {"image_ids": [image.id], "label": "ants", "source": "import"}
    assert (
        auth_client.post(_images_url(project, "bulk-label/"), bad, format="json").status_code == 400
    )


def test_bulk_label_query_count_does_not_grow_with_the_selection(
    auth_client, project, django_assert_max_num_queries
):
    ImageFactory.create_batch(30, project=project)
    with django_assert_max_num_queries(16):  # fixed: does not grow with the selection
        answer = auth_client.post(
            _images_url(project, "bulk-label/"),
            {"filter": {"unlabeled": "true"}, "label": "ants"},
            format="json",
        )
    assert answer.data == {"updated": 30}


def test_bulk_requests_must_say_which_images(auth_client, project, images):
    url = _images_url(project, "bulk-label/")
    assert auth_client.post(url, {"label": "ants"}, format="json").status_code == 400
    both = {"label": "ants", "image_ids": [1], "filter": {}}
    assert auth_client.post(url, both, format="json").status_code == 400
    bad = {"label": "ants", "filter": {"split": "holdout"}}
    assert auth_client.post(url, bad, format="json").status_code == 400


def test_delete_one_and_many_removes_files(
    auth_client, project, images, django_capture_on_commit_callbacks
):
    image = images["ants"][0]
    names = [image.original.name, image.normalized.name, image.thumbnail.name]
    assert all(default_storage.exists(n) for n in names)
    with django_capture_on_commit_callbacks(execute=True):
        answer = auth_client.delete(_images_url(project, f"{image.id}/"))
    assert answer.status_code == 204
    assert not Image.objects.filter(id=image.id).exists()
    assert not any(default_storage.exists(n) for n in names)

    bees = images["bees"]
    with django_capture_on_commit_callbacks(execute=True):
        answer = auth_client.post(
            _images_url(project, "bulk-delete/"), {"filter": {"label": "bees"}}, format="json"
        )
    assert answer.data == {"deleted": 3}
    assert not any(default_storage.exists(b.thumbnail.name) for b in bees)
    ids = [i.id for i in images[None]]
    answer = auth_client.post(
        _images_url(project, "bulk-delete/"), {"image_ids": ids}, format="json"
    )
    assert answer.data == {"deleted": 4}
    assert Image.objects.filter(project=project).count() == 5


def test_stats(auth_client, project, images):
    RejectionCount.objects.create(project=project, duplicates=2, rejected=5)
    stats = auth_client.get(f"/api/v1/projects/{project.id}/stats/").data
    assert stats["total"] == 13 and stats["labeled"] == 9 and stats["unlabeled"] == 4
    by_name = {row["name"]: row for row in stats["labels"]}
    assert by_name["ants"]["count"] == 6 and by_name["bees"]["count"] == 3
    assert sum(by_name["ants"]["splits"].values()) == 6
    assert stats["splits"]["unassigned"] == 4
    assert sum(stats["splits"].values()) == 13
    assert stats["duplicates_rejected"] == 2 and stats["rejected"] == 5
    codes = [w["code"] for w in stats["warnings"]]
    assert codes.count("few_images") == 2 and "unlabeled" in codes
    assert "imbalance" not in codes  # 6 / 3 = 2, not over 3
    assert all(w["message"].endswith(".") for w in stats["warnings"])


def test_stats_warnings_for_imbalance_and_no_labels(auth_client, user):
    empty = ProjectFactory(owner=user)
    codes = [
        w["code"] for w in auth_client.get(f"/api/v1/projects/{empty.id}/stats/").data["warnings"]
    ]
    assert codes == ["no_labels"]
    project = ProjectFactory(owner=user, labels=["big", "small"])
    ImageFactory.create_batch(13, project=project, label="big")
    ImageFactory.create_batch(4, project=project, label="small")
    warnings = auth_client.get(f"/api/v1/projects/{project.id}/stats/").data["warnings"]
    assert [w["code"] for w in warnings] == ["few_images", "imbalance"]
    assert '"small"' in warnings[0]["message"]


def test_other_users_get_404_everywhere(other_client, other_user, project, images):
    image = images["ants"][0]
    base = _images_url(project)
    for url in (
        base,
        f"{base}{image.id}/",
        f"{base}{image.id}/history/",
        f"/api/v1/projects/{project.id}/stats/",
    ):
        assert other_client.get(url).status_code == 404, url
    assert (
        other_client.patch(f"{base}{image.id}/", {"label": "x"}, format="json").status_code == 404
    )
    assert other_client.delete(f"{base}{image.id}/").status_code == 404
    for suffix, body in (
        ("bulk-label/", {"image_ids": [image.id], "label": "x"}),
        ("bulk-delete/", {"image_ids": [image.id]}),
        ("bulk-delete/", {"filter": {}}),
    ):
        assert other_client.post(f"{base}{suffix}", body, format="json").status_code == 404
    assert other_client.post(base, {}, format="multipart").status_code == 404
    image.refresh_from_db()
    assert image.label.name == "ants"
    # Their own project cannot reach alice's images by id either.
    theirs = ProjectFactory(owner=other_user)
    assert other_client.get(_images_url(theirs, f"{image.id}/")).status_code == 404
    answer = other_client.post(
        _images_url(theirs, "bulk-label/"), {"image_ids": [image.id], "label": "x"}, format="json"
    )
    assert answer.data == {"updated": 0}
    answer = other_client.post(
        _images_url(theirs, "bulk-delete/"), {"image_ids": [image.id]}, format="json"
    )
    assert answer.data == {"deleted": 0}
    assert Image.objects.filter(id=image.id).exists()


def test_anonymous_requests_are_refused(api_client, project):
    assert api_client.get(_images_url(project)).status_code in (401, 403)
