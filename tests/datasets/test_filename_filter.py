"""Issue 13: search the data set by file name (part of it, any case), in the list and in the
bulk actions' filter."""

import pytest

from apps.datasets.models import Image
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db


def test_images_are_found_by_part_of_their_file_name(auth_client, project):
    ImageFactory(project=project, filename="Ant_Colony_01.jpg", label="ants")
    ImageFactory(project=project, filename="bee-on-flower.jpg", label="bees")
    ImageFactory(project=project, filename="another-ANT.png", label="ants")
    url = f"/api/v1/projects/{project.pk}/images/"

    found = auth_client.get(url, {"filename": "ant"}).json()
    assert sorted(i["filename"] for i in found["results"]) == [
        "Ant_Colony_01.jpg",
        "another-ANT.png",
    ]
    # Combined with the other filters; blanks are no filter.
    assert auth_client.get(url, {"filename": "ANT", "label": "bees"}).json()["count"] == 0
    assert auth_client.get(url, {"filename": "  "}).json()["count"] == 3
    too_long = auth_client.get(url, {"filename": "x" * 256})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "invalid_filter"


def test_bulk_label_applies_to_the_file_name_filter(auth_client, project):
    ImageFactory(project=project, filename="colony-1.jpg")
    ImageFactory(project=project, filename="colony-2.jpg")
    ImageFactory(project=project, filename="flower.jpg")
    answer = auth_client.post(
        f"/api/v1/projects/{project.pk}/images/bulk-label/",
        {"filter": {"filename": "COLONY"}, "label": "ants"},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["updated"] == 2
    labeled = Image.objects.filter(project=project, label__name="ants")
    assert sorted(labeled.values_list("original_filename", flat=True)) == [
        "colony-1.jpg",
        "colony-2.jpg",
    ]
