"""Stored files (images, thumbnails, prediction-log images) are served to their owner only."""

from __future__ import annotations

import pytest

from tests.conftest import embedded_media_only
from tests.factories import ImageFactory, ProjectFactory, make_jpeg_bytes

pytestmark = [pytest.mark.django_db, embedded_media_only]


@pytest.fixture
def image(user):
    return ImageFactory(project=ProjectFactory(owner=user), data=make_jpeg_bytes(40, 30))


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_owner_gets_the_file_and_its_thumbnail(auth_client, image):
    listed = auth_client.get(f"/api/v1/projects/{image.project_id}/images/").json()
    item = listed["results"][0]
    for url in (item["file_url"], item["thumbnail_url"]):
        response = auth_client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "image/jpeg"
        assert _body(response)[:2] == b"\xff\xd8"  # a JPEG


def test_anybody_else_gets_a_404_and_nothing_of_the_file(api_client, other_client, image):
    url = f"/media/{image.normalized.name}"
    assert other_client.get(url).status_code == 404
    anonymous = api_client.get(url)
    assert anonymous.status_code in (401, 403)
    assert b"\xff\xd8" not in anonymous.content


def test_dot_dot_cannot_reach_another_owners_project(other_user, auth_client, user):
    mine = ProjectFactory(owner=user)
    theirs = ImageFactory(project=ProjectFactory(owner=other_user))
    name = theirs.normalized.name  # projects/<their id>/...
    sneaky = f"/media/projects/{mine.pk}/../{name.removeprefix('projects/')}"
    assert auth_client.get(sneaky).status_code == 404
    assert auth_client.get(f"/media/projects/{mine.pk}/../../../etc/passwd").status_code == 404


@pytest.mark.parametrize(
    "path", ["", "projects/", "projects/abc/x.jpg", "other/1/x.jpg", "projects/1/"]
)
def test_paths_outside_an_owned_folder_are_not_found(auth_client, path):
    assert auth_client.get(f"/media/{path}").status_code == 404
