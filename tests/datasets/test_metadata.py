"""Metadata columns from a CSV, and the image list filtered by them (issue 14, item 11)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets import metadata
from apps.datasets.models import Image
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db


def csv_file(text: str | bytes, name: str = "meta.csv") -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def post(client, project, text):
    return client.post(
        f"/api/v1/projects/{project.pk}/metadata/", {"file": csv_file(text)}, format="multipart"
    )


@pytest.fixture
def images(project):
    return [
        ImageFactory(project=project, label="ants", filename=name)
        for name in ("a1.jpg", "a2.jpg", "b1.jpg")
    ]


def test_csv_columns_attach_by_file_name(auth_client, project, images):
    text = "filename,camera,site\na1.jpg,north,hill\ntrain/ants/A2.JPG,south,\nzz.jpg,x,y\n"
    response = post(auth_client, project, text)
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["matched_by"] == "filename" and report["keys"] == ["camera", "site"]
    assert (report["matched_rows"], report["unmatched_rows"]) == (2, 1)
    assert report["unmatched"] == ["zz.jpg"] and report["images_updated"] == 2
    by_name = {i.original_filename: i.metadata for i in Image.objects.all()}
    assert by_name["a1.jpg"] == {"camera": "north", "site": "hill"}
    assert by_name["a2.jpg"] == {"camera": "south"}  # an empty cell sets nothing
    assert by_name["b1.jpg"] == {}
    listed = auth_client.get(f"/api/v1/projects/{project.pk}/images/").json()["results"]
    assert {i["filename"]: i["metadata"] for i in listed}["a1.jpg"]["site"] == "hill"


def test_a_second_csv_merges_and_external_id_matches(auth_client, project, images):
    post(auth_client, project, "file;external_id;camera\na1.jpg;X-1;north\nb1.jpg;X-2;east\n")
    response = post(auth_client, project, "external_id,customer\nX-1,acme\nX-9,none\n")
    report = response.json()
    assert report["matched_by"] == "external_id" and report["keys"] == ["customer"]
    assert (report["matched_rows"], report["unmatched"]) == (1, ["X-9"])
    image = Image.objects.get(original_filename="a1.jpg")
    assert image.metadata == {"external_id": "X-1", "camera": "north", "customer": "acme"}


def test_image_list_and_bulk_label_filter_by_metadata(auth_client, project, images):
    post(auth_client, project, "name,camera\na1.jpg,north\na2.jpg,north\nb1.jpg,south\n")
    base = f"/api/v1/projects/{project.pk}/images/"
    north = auth_client.get(base, {"meta.camera": "north"}).json()
    assert sorted(i["filename"] for i in north["results"]) == ["a1.jpg", "a2.jpg"]
    assert auth_client.get(base, {"meta.camera": "west"}).json()["count"] == 0
    # A key with "__" stays a key, not a lookup path.
    assert auth_client.get(base, {"meta.camera__contains": "n"}).json()["count"] == 0
    relabel = auth_client.post(
        f"/api/v1/projects/{project.pk}/images/bulk-label/",
        {"filter": {"meta.camera": "south"}, "label": "bees"},
        format="json",
    )
    assert relabel.status_code == 200, relabel.content
    assert Image.objects.get(original_filename="b1.jpg").label.name == "bees"
    assert Image.objects.get(original_filename="a1.jpg").label.name == "ants"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "csv_empty"),
        ("filename\na1.jpg\n", "csv_no_columns"),
        ("filename,camera,Camera\na1.jpg,1,2\n", "invalid_csv"),
        ("filename,,x\na1.jpg,1,2\n", "invalid_csv"),
        (b"filename,camera\n\xff\xfe,north\n", "invalid_csv"),
    ],
)
def test_bad_csv_is_a_plain_400(auth_client, project, images, text, code):
    response = post(auth_client, project, text)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not any(i.metadata for i in Image.objects.all())


def test_missing_file_and_too_large_csv(auth_client, project, settings, monkeypatch):
    response = auth_client.post(f"/api/v1/projects/{project.pk}/metadata/", {}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_required"
    monkeypatch.setattr(metadata, "MAX_CSV_BYTES", 20)
    response = post(auth_client, project, "filename,camera\n" + "a1.jpg,north\n" * 5)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_only_the_owner_attaches_metadata(other_client, project, images):
    response = post(other_client, project, "filename,camera\na1.jpg,north\n")
    assert response.status_code == 404
    assert not Image.objects.get(original_filename="a1.jpg").metadata


def test_bad_metadata_filter_is_a_400(auth_client, project):
    response = auth_client.get(f"/api/v1/projects/{project.pk}/images/", {"meta.": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_filter"


def test_metadata_columns_list_values_most_frequent_first(auth_client, project, images):
    url = f"/api/v1/projects/{project.pk}/metadata/"
    assert auth_client.get(url).json() == {"columns": []}
    post(
        auth_client,
        project,
        "filename,site,camera\na1.jpg,hill,north\na2.jpg,,north\nb1.jpg,lake,south\n",
    )
    response = auth_client.get(url)
    assert response.status_code == 200, response.content
    columns = {c["key"]: c for c in response.json()["columns"]}
    assert list(columns) == ["camera", "site"]  # by name
    assert columns["camera"]["values"] == [
        {"value": "north", "count": 2},
        {"value": "south", "count": 1},
    ]
    assert columns["camera"]["images"] == 3 and columns["site"]["images"] == 2
    assert columns["site"]["truncated"] is False


def test_metadata_columns_cap_the_values_of_a_column(auth_client, project, monkeypatch):
    from apps.datasets import selectors

    monkeypatch.setattr(selectors, "MAX_META_VALUES", 3)
    for k in range(5):
        image = ImageFactory(project=project, filename=f"{k}.jpg")
        Image.objects.filter(pk=image.pk).update(metadata={"n": str(k % 4)})
    column = auth_client.get(f"/api/v1/projects/{project.pk}/metadata/").json()["columns"][0]
    assert column["values"][0] == {"value": "0", "count": 2}
    assert len(column["values"]) == 3 and column["truncated"] is True


def test_metadata_columns_are_the_owners_only(other_client, project, images):
    assert other_client.get(f"/api/v1/projects/{project.pk}/metadata/").status_code == 404
