"""The batch API: submitting (202, validation 400s with sentences), following, results,
owner-only access and the deployment's API keys."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.batches.models import BatchJob
from tests.batches.conftest import make_zip

pytestmark = pytest.mark.django_db


def _zip_upload(data: bytes, name: str = "photos.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/zip")


def _submit(client, deployment, data: bytes, name: str = "photos.zip"):
    return client.post(
        f"/api/v1/deployments/{deployment.slug}/batches/",
        {"archive": _zip_upload(data, name)},
        format="multipart",
    )


def _error(response) -> tuple[str, str]:
    body = response.json()["error"]
    return body["code"], body["message"]


def test_a_zip_is_accepted_with_202_runs_and_its_results_download(
    auth_client, deployment, photos, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _submit(auth_client, deployment, make_zip(photos))
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["total"] == len(photos)
    assert body["model_version_number"] == 1 and body["precision"] == "fp32"

    detail = auth_client.get(f"/api/v1/batches/{body['id']}/").json()
    assert detail["status"] == "succeeded"
    assert (detail["total"], detail["done"], detail["failed"]) == (6, 6, 0)
    assert detail["finished"] and detail["results_csv"].endswith(
        f"/batches/{body['id']}/results.csv"
    )

    csv_response = auth_client.get(f"/api/v1/batches/{body['id']}/results.csv")
    assert csv_response.status_code == 200
    assert csv_response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(csv_response.streaming_content).decode())))
    assert [row["name"] for row in rows] == list(photos)
    assert all(row["label"] in ("ants", "bees") and not row["error"] for row in rows)

    json_response = auth_client.get(f"/api/v1/batches/{body['id']}/results.json")
    document = __import__("json").loads(b"".join(json_response.streaming_content))
    assert document["status"] == "succeeded" and len(document["results"]) == 6
    assert document["results"][0]["confidence"] == pytest.approx(
        float(rows[0]["confidence"]), abs=1e-6
    )

    listed = auth_client.get(f"/api/v1/deployments/{deployment.slug}/batches/").json()
    assert [item["id"] for item in listed["results"]] == [body["id"]]


def test_urls_are_accepted_as_json(auth_client, deployment):
    response = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/batches/",
        {"urls": ["https://example.com/a.jpg", " https://example.com/b.jpg "]},
        format="json",
    )
    assert response.status_code == 202, response.content
    batch = BatchJob.objects.get(pk=response.json()["id"])
    assert batch.kind == "urls" and batch.urls == [
        "https://example.com/a.jpg",
        "https://example.com/b.jpg",
    ]


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        ({}, "nothing_to_predict", "archive"),
        ({"urls": []}, "no_urls", "list of image addresses"),
        ({"urls": "https://example.com/a.jpg"}, "no_urls", "list of image addresses"),
        ({"urls": ["ftp://example.com/a.jpg"]}, "invalid_url", "http://"),
        ({"urls": [3]}, "invalid_url", "not text"),
        ({"urls": ["https://example.com/a.jpg"] * 3}, "too_many_urls", "at most 2"),
    ],
)
def test_bad_url_lists_are_refused_with_a_sentence(
    auth_client, deployment, settings, payload, code, words
):
    settings.BATCH_MAX_URLS = 2
    response = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/batches/", payload, format="json"
    )
    assert response.status_code == 400
    assert _error(response)[0] == code and words in _error(response)[1]
    assert not BatchJob.objects.exists()


def test_bad_archives_are_refused_with_a_sentence(auth_client, deployment, photos, settings):
    response = _submit(auth_client, deployment, b"just some text", "notes.zip")
    assert response.status_code == 400 and _error(response)[0] == "not_a_zip"
    assert "not a zip archive" in _error(response)[1]

    only_folders = make_zip({"__MACOSX/._a.jpg": b"x", ".DS_Store": b"x"})
    response = _submit(auth_client, deployment, only_folders)
    assert response.status_code == 400 and "no images" in _error(response)[1]

    settings.BATCH_MAX_IMAGES = 5
    response = _submit(auth_client, deployment, make_zip(photos))
    assert response.status_code == 400 and _error(response)[0] == "batch_too_many_images"
    assert "at most 5" in _error(response)[1]

    settings.BATCH_MAX_IMAGES = 100
    settings.BATCH_MAX_ARCHIVE_BYTES = 1000
    response = _submit(auth_client, deployment, make_zip(photos))
    assert response.status_code == 400 and _error(response)[0] == "batch_archive_too_large"

    settings.BATCH_MAX_ARCHIVE_BYTES = 10**9
    settings.MAX_ZIP_MEMBERS = 3  # the data set import's guard against huge directories
    response = _submit(auth_client, deployment, make_zip(photos))
    assert response.status_code == 400 and _error(response)[0] == "zip_too_many_members"
    assert not BatchJob.objects.exists()


def test_a_zip_under_another_field_name_is_told_the_right_one(auth_client, deployment, photos):
    response = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/batches/",
        {"file": _zip_upload(make_zip({"a.jpg": b"x"}))},
        format="multipart",
    )
    assert response.status_code == 400
    code, message = _error(response)
    assert code == "nothing_to_predict"
    assert message.endswith("The file field must be called 'archive'; got: file."), message
    assert not BatchJob.objects.exists()


def test_only_the_owner_sees_batches(auth_client, other_client, api_client, deployment):
    batch_id = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/batches/",
        {"urls": ["https://example.com/a.jpg"]},
        format="json",
    ).json()["id"]
    for path in (
        f"/api/v1/batches/{batch_id}/",
        f"/api/v1/batches/{batch_id}/results.csv",
        f"/api/v1/batches/{batch_id}/results.json",
        f"/api/v1/deployments/{deployment.slug}/batches/",
    ):
        assert other_client.get(path).status_code == 404, path
        assert api_client.get(path).status_code in (401, 403), path
    refused = other_client.post(
        f"/api/v1/deployments/{deployment.slug}/batches/",
        {"urls": ["https://example.com/a.jpg"]},
        format="json",
    )
    assert refused.status_code == 404
    assert BatchJob.objects.count() == 1


def test_the_deployments_api_key_may_submit_and_follow(
    key_client, api_client, deployment, project, make_version, user
):
    response = key_client.post(
        f"/api/v1/deployments/{deployment.slug}/batches/",
        {"urls": ["https://example.com/a.jpg"]},
        format="json",
    )
    assert response.status_code == 202, response.content
    batch_id = response.json()["id"]
    assert BatchJob.objects.get(pk=batch_id).created_by is None
    assert key_client.get(f"/api/v1/batches/{batch_id}/").status_code == 200
    assert key_client.get(f"/api/v1/batches/{batch_id}/results.csv").status_code == 200

    # Another deployment's key opens nothing of this one.
    from apps.deployments.services import api_key_create, deployment_create

    other = deployment_create(
        project=project, model_version_id=make_version(project, "v2").pk, created_by=user
    )
    _, other_key = api_key_create(deployment=other, name="other")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {other_key}")
    assert api_client.get(f"/api/v1/batches/{batch_id}/").status_code == 401
    assert (
        api_client.post(
            f"/api/v1/deployments/{deployment.slug}/batches/",
            {"urls": ["https://example.com/a.jpg"]},
            format="json",
        ).status_code
        == 401
    )
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key nope.nope")
    assert api_client.get(f"/api/v1/batches/{batch_id}/").status_code == 401
    assert api_client.get("/api/v1/batches/999999/").status_code == 404


def test_a_zip_bomb_is_refused_before_it_is_stored(auth_client, deployment, settings):
    settings.MAX_ZIP_UNCOMPRESSED_BYTES = 1024 * 1024
    bomb = make_zip({"zeros.jpg": b"\0" * (4 * 1024 * 1024)})  # deflates to a few KB
    assert len(bomb) < 50_000
    response = _submit(auth_client, deployment, bomb)
    assert response.status_code == 400 and _error(response)[0] == "zip_too_large"
    assert not BatchJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_job_queue_that_does_not_answer_is_a_503_and_leaves_no_archive(
    auth_client, deployment, photos, monkeypatch
):
    """A failed batch cannot be retried, so its stored archive must not stay behind."""
    from django.core.files.storage import default_storage
    from kombu.exceptions import OperationalError

    from apps.batches.tasks import run_batch

    def down(*args, **kwargs):
        raise OperationalError("Timeout connecting to the broker")

    monkeypatch.setattr(run_batch, "apply_async", down)
    response = _submit(auth_client, deployment, make_zip(photos))
    assert response.status_code == 503
    assert _error(response)[0] == "broker_unavailable"
    failed = BatchJob.objects.get()
    assert failed.status == "failed"
    assert not failed.archive or not default_storage.exists(failed.archive.name)
