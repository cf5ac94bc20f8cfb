"""Running a batch on the job machine: rows with errors for bad inputs, resuming after a
dead worker without missing or duplicated rows, answers equal to the live endpoint's, and
the webhook event at the end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps import ml
from apps.batches import inputs, predicting, services
from apps.batches.models import BatchItem, BatchJob
from apps.batches.services import batch_create, batch_job_run
from apps.core.fetch import FETCH_FAILED_MESSAGE, FetchError
from apps.core.jobs import jobs_reap
from apps.training.health.reference import ood_reference_bytes
from apps.webhooks.models import Webhook, WebhookDelivery
from tests.batches.conftest import make_zip
from tests.deployments.conftest import BACKBONE, LABELS, png_bytes, upload

pytestmark = pytest.mark.django_db


class _Upload(ContentFile):
    """An uploaded file as the view hands it to the service."""

    def __init__(self, data: bytes, name: str = "photos.zip") -> None:
        super().__init__(data, name=name)


def _run_zip(deployment, members: dict[str, bytes]) -> BatchJob:
    batch = batch_create(deployment=deployment, archive=_Upload(make_zip(members)))
    return batch_job_run(job_id=batch.pk)


def _rows(batch: BatchJob) -> list[BatchItem]:
    return list(BatchItem.objects.filter(batch=batch).order_by("index"))


def test_bad_members_get_an_error_row_and_the_batch_goes_on(deployment, photos):
    members = {
        **dict(list(photos.items())[:2]),
        "notes.txt": b"not an image",
        "inner.zip": make_zip({"a.jpg": b"x"}),
        "red.png": png_bytes(),
        "folder/": b"",
        "__MACOSX/._red.png": b"resource fork",
    }
    batch = _run_zip(deployment, members)
    assert batch.status == "succeeded", batch.error
    rows = _rows(batch)
    assert [row.name for row in rows] == [*list(photos)[:2], "notes.txt", "inner.zip", "red.png"]
    assert (batch.total, batch.done, batch.failed) == (5, 5, 2)
    by_name = {row.name: row for row in rows}
    assert by_name["notes.txt"].error and by_name["notes.txt"].label == ""
    assert "Archives inside the zip" in by_name["inner.zip"].error
    assert by_name["red.png"].label in LABELS and not by_name["red.png"].error
    assert all(row.confidence is not None for row in rows if not row.error)
    # The archive is deleted once the batch has ended.
    batch.refresh_from_db()
    assert not batch.archive


def test_urls_are_fetched_through_the_guarded_fetcher(deployment, photos, monkeypatch):
    jpeg = next(iter(photos.values()))

    def fake_fetch(url, **_kwargs):
        if "missing" in url:
            raise FetchError("the server answered 404")
        return type("Fetched", (), {"data": jpeg})()

    batch = batch_create(
        deployment=deployment,
        urls=["https://example.com/a.jpg", "https://example.com/missing.jpg"],
    )
    monkeypatch.setattr(inputs, "fetch_url", fake_fetch)
    batch = batch_job_run(job_id=batch.pk)
    first, second = _rows(batch)
    assert first.name == "https://example.com/a.jpg" and first.label in LABELS
    assert second.error == FETCH_FAILED_MESSAGE and second.confidence is None


def test_private_addresses_are_refused_row_by_row(deployment, settings):
    settings.URL_ALLOWLIST = []
    batch = batch_create(deployment=deployment, urls=["http://127.0.0.1:9/cat.jpg"])
    batch = batch_job_run(job_id=batch.pk)
    (row,) = _rows(batch)
    assert row.error == FETCH_FAILED_MESSAGE
    assert batch.status == "succeeded" and batch.failed == 1


class _Died(BaseException):
    """The worker process was killed (nothing of the job's code runs after it)."""


def test_a_batch_resumes_after_its_worker_died_without_missing_or_duplicate_rows(
    deployment, photos, monkeypatch
):
    monkeypatch.setattr(services, "CHUNK", 2)
    real_predict = services.predict_inputs
    calls: list[list[int]] = []

    def dies_on_third_chunk(model, chunk):
        calls.append([item.index for item in chunk])
        if len(calls) == 3:
            raise _Died()
        return real_predict(model, chunk)

    monkeypatch.setattr(services, "predict_inputs", dies_on_third_chunk)
    batch = batch_create(deployment=deployment, archive=_Upload(make_zip(photos)))
    with pytest.raises(_Died):
        batch_job_run(job_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == "running" and batch.done == 4
    assert [row.index for row in _rows(batch)] == [0, 1, 2, 3]

    # The reaper takes the silent attempt for dead and queues the job again.
    assert jobs_reap(stale_after=0) >= 1
    batch.refresh_from_db()
    assert batch.status == "queued"
    calls.clear()
    monkeypatch.setattr(services, "predict_inputs", real_predict)
    batch = batch_job_run(job_id=batch.pk)
    assert batch.status == "succeeded" and batch.attempts == 2
    rows = _rows(batch)
    assert [row.index for row in rows] == list(range(6))
    assert [row.name for row in rows] == list(photos)
    assert (batch.done, batch.failed) == (6, 0)


def test_a_second_delivery_of_the_message_does_nothing(deployment, photos):
    batch = _run_zip(deployment, dict(list(photos.items())[:1]))
    assert batch_job_run(job_id=batch.pk) is None
    assert BatchItem.objects.filter(batch=batch).count() == 1


@pytest.fixture
def ood_version(version, photos):
    """A small out-of-distribution reference for the deployed version."""
    pictures = [ml.open_image(data, max_pixels=40_000_000).image for data in photos.values()]
    version.ood_file = default_storage.save(
        f"models/{version.project_id}/v{version.number}/ood.npy",
        ContentFile(ood_reference_bytes(ml.embed(pictures, backbone=BACKBONE))),
    )
    version.save(update_fields=["ood_file"])
    return version


def test_rows_equal_the_live_endpoints_answers(
    ood_version, deployment, key_client, photos, hymenoptera
):
    from apps.deployments.services import deployment_update

    deployment_update(deployment=deployment, threshold=0.9)
    deployment.refresh_from_db()
    others = sorted((hymenoptera / "val" / "bees").glob("*.jpg"))[5:8]
    images = {
        **photos,
        **{f"more/{p.name}": p.read_bytes() for p in others},
        "red.png": png_bytes((300, 300)),
    }
    batch = _run_zip(deployment, images)
    assert batch.status == "succeeded" and batch.threshold == 0.9
    rows = {row.name: row for row in _rows(batch)}
    seen_ood = set()
    for name, data in images.items():
        response = key_client.post(
            f"/api/v1/predict/{deployment.slug}/",
            {"image": upload(data, name.rsplit("/")[-1])},
            format="multipart",
        )
        assert response.status_code == 200, response.content
        live = response.json()
        row = rows[name]
        assert row.label == live["prediction"]["label"], name
        assert abs(row.confidence - live["prediction"]["confidence"]) < 1e-5, name
        assert row.uncertain == live["uncertain"], name
        assert row.out_of_distribution == live["out_of_distribution"], name
        seen_ood.add(row.out_of_distribution)
    assert None not in seen_ood


def test_the_model_is_frozen_when_the_batch_is_submitted(deployment, project, make_version, photos):
    from apps.deployments.services import deployment_update

    batch = batch_create(deployment=deployment, archive=_Upload(make_zip(photos)))
    v2 = make_version(project, "v2")
    deployment_update(deployment=deployment, model_version_id=v2.pk)
    batch = batch_job_run(job_id=batch.pk)
    assert batch.model_version_number == 1
    model = predicting.batch_model_load(
        version=batch.model_version, precision="fp32", threshold=0.5
    )
    assert model.runner.version_id == batch.model_version_id != v2.pk


def test_the_end_of_a_batch_is_sent_to_webhooks(
    deployment, project, photos, django_capture_on_commit_callbacks
):
    Webhook.objects.create(
        project=project,
        url="https://hooks.example.com/x",
        kind=Webhook.Kind.SLACK,
        events=["batch.succeeded", "batch.failed"],
        secret="s" * 40,
    )
    batch = batch_create(deployment=deployment, archive=_Upload(make_zip(photos)))
    with django_capture_on_commit_callbacks() as callbacks:
        batch_job_run(job_id=batch.pk)
    for callback in callbacks:  # after the commit; deliveries themselves are not sent here
        callback()
    delivery = WebhookDelivery.objects.get(event_type="batch.succeeded")
    body = json.loads(delivery.body)
    assert "6 of 6 images predicted by model v1" in json.dumps(body)


def test_a_batch_whose_version_is_gone_fails_and_is_announced(
    deployment, photos, django_capture_on_commit_callbacks
):
    received = []
    from apps.core.hooks import on_batch_finished

    def receiver(*, job):
        received.append((job.pk, job.status, job.error))

    on_batch_finished.connect(receiver)
    try:
        batch = batch_create(deployment=deployment, archive=_Upload(make_zip(photos)))
        BatchJob.objects.filter(pk=batch.pk).update(model_version=None)
        with django_capture_on_commit_callbacks(execute=True):
            batch = batch_job_run(job_id=batch.pk)
    finally:
        on_batch_finished.disconnect(receiver)
    assert batch.status == "failed" and "v1 was deleted" in batch.error
    assert received == [(batch.pk, "failed", batch.error)]


def test_predictions_of_identical_images_do_not_depend_on_the_chunk(
    deployment, photos, monkeypatch
):
    data = next(iter(photos.values()))
    monkeypatch.setattr(services, "CHUNK", 3)
    batch = _run_zip(deployment, {f"{n}.jpg": data for n in range(5)})
    confidences = [row.confidence for row in _rows(batch)]
    np.testing.assert_allclose(confidences, confidences[0], atol=1e-5)


def test_a_batch_whose_last_attempt_died_fails_and_is_announced(
    deployment, photos, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.JOB_MAX_ATTEMPTS = 1
    received = []
    from apps.core.hooks import on_batch_finished

    def receiver(*, job):
        received.append((job.status, job.error, job.done))

    def dies(model, chunk):
        raise _Died()

    monkeypatch.setattr(services, "predict_inputs", dies)
    batch = batch_create(deployment=deployment, archive=_Upload(make_zip(photos)))
    with pytest.raises(_Died):
        batch_job_run(job_id=batch.pk)
    on_batch_finished.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            jobs_reap(stale_after=0)
    finally:
        on_batch_finished.disconnect(receiver)
    batch.refresh_from_db()
    assert batch.status == "failed" and batch.error == services.BATCH_LOST_ERROR
    assert not batch.archive
    assert received == [("failed", services.BATCH_LOST_ERROR, 0)]


def test_a_member_past_the_image_size_limit_is_read_no_further(deployment, photos, settings):
    settings.PREDICT_MAX_IMAGE_BYTES = 200_000
    members = {"huge.jpg": b"\xff" * 300_000, **dict(list(photos.items())[:1])}
    batch = _run_zip(deployment, members)
    huge, photo = _rows(batch)
    assert "larger than" in huge.error and huge.label == ""
    assert photo.label in LABELS
