"""The prediction log: what is recorded, listing it, and adding a logged image to the data set."""

from __future__ import annotations

import time
import uuid

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.datasets.models import Image
from apps.deployments.models import PredictionLog
from apps.deployments.prediction_log import LogEntry, PredictionLogWriter
from apps.labeling.models import LabelEvent
from tests.conftest import S3_BUCKET, stored_file_url
from tests.deployments.conftest import upload

pytestmark = pytest.mark.django_db


def _predict(client, deployment, data: bytes):
    response = client.post(
        f"/api/v1/predict/{deployment.slug}/", {"image": upload(data)}, format="multipart"
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_every_prediction_is_logged(key_client, deployment, ant_jpeg):
    answer = _predict(key_client, deployment, ant_jpeg)
    row = PredictionLog.objects.get(uid=answer["id"])
    assert row.deployment_id == deployment.pk
    assert row.model_version_id == deployment.model_version_id
    assert row.label == answer["prediction"]["label"]
    assert row.confidence == pytest.approx(answer["prediction"]["confidence"])
    assert row.predictions == answer["predictions"]
    assert row.uncertain == answer["uncertain"]
    assert row.latency_ms == pytest.approx(answer["latency_ms"])
    assert row.source == PredictionLog.Source.API
    assert row.created_at is not None
    # The image itself, byte for byte.
    with default_storage.open(row.image.name, "rb") as handle:
        assert handle.read() == ant_jpeg
    assert len(row.image_sha256) == 64


def test_images_are_not_kept_when_store_images_is_off(
    auth_client, key_client, deployment, ant_jpeg
):
    auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"store_images": False}, format="json"
    )
    answer = _predict(key_client, deployment, ant_jpeg)
    row = PredictionLog.objects.get(uid=answer["id"])
    assert row.image.name == ""
    response = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/predictions/{answer['id']}/add-to-dataset/",
        {"label": "ants"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "image_not_stored"


def test_uncertain_uses_the_current_threshold_on_stored_confidences(
    auth_client, key_client, deployment, ant_jpeg
):
    """Regression (issue 13): raising the threshold used to leave older low-confidence
    answers out of "Only uncertain" (the flag stored at prediction time was filtered on)."""
    answer = _predict(key_client, deployment, ant_jpeg)
    confidence = answer["prediction"]["confidence"]
    url = f"/api/v1/deployments/{deployment.slug}/predictions/"
    auth_client.patch(f"/api/v1/deployments/{deployment.slug}/", {"threshold": 0.0}, format="json")
    assert auth_client.get(url, {"uncertain": "true"}).json()["count"] == 0
    # Raised above the stored confidence: the old answer is uncertain now, in the filter,
    # in the listed row and in its detail.
    auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/",
        {"threshold": min(1.0, confidence + 0.001)},
        format="json",
    )
    listed = auth_client.get(url, {"uncertain": "true"}).json()
    assert [p["id"] for p in listed["results"]] == [answer["id"]]
    assert listed["results"][0]["uncertain"] is True
    assert auth_client.get(url, {"uncertain": "false"}).json()["count"] == 0
    assert auth_client.get(f"{url}{answer['id']}/").json()["uncertain"] is True


def test_list_newest_first_with_uncertain_filter(
    auth_client, other_client, key_client, deployment, ant_jpeg, bee_jpeg
):
    first = _predict(key_client, deployment, ant_jpeg)
    auth_client.patch(f"/api/v1/deployments/{deployment.slug}/", {"threshold": 1.0}, format="json")
    second = _predict(key_client, deployment, bee_jpeg)  # everything is uncertain now
    assert second["uncertain"] is True

    listed = auth_client.get(f"/api/v1/deployments/{deployment.slug}/predictions/")
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 2
    assert [p["id"] for p in body["results"]] == [second["id"], first["id"]]
    item = body["results"][0]
    assert item["label"] == second["prediction"]["label"]
    assert item["model_version"] == deployment.model_version_id
    assert item["image_url"].startswith(stored_file_url("predictions/"))
    assert item["added_image"] is None
    if not S3_BUCKET:  # on S3 the URL is signed; Django serves /media/ on the embedded stack
        # The logged image itself: for the deployment's owner only.
        assert auth_client.get(item["image_url"]).status_code == 200
        assert other_client.get(item["image_url"]).status_code == 404

    # The filter reads the threshold as it is now (1.0): the first answer counts as
    # uncertain too, whatever it was called when it was made.
    uncertain = auth_client.get(
        f"/api/v1/deployments/{deployment.slug}/predictions/?uncertain=true"
    ).json()
    assert [p["id"] for p in uncertain["results"]] == [second["id"], first["id"]]
    auth_client.patch(f"/api/v1/deployments/{deployment.slug}/", {"threshold": 0.0}, format="json")
    certain = auth_client.get(
        f"/api/v1/deployments/{deployment.slug}/predictions/?uncertain=false"
    ).json()
    assert [p["id"] for p in certain["results"]] == [second["id"], first["id"]]
    bad = auth_client.get(f"/api/v1/deployments/{deployment.slug}/predictions/?uncertain=maybe")
    assert bad.status_code == 400


def test_add_to_dataset_is_idempotent(auth_client, key_client, deployment, project, user, ant_jpeg):
    answer = _predict(key_client, deployment, ant_jpeg)
    url = f"/api/v1/deployments/{deployment.slug}/predictions/{answer['id']}/add-to-dataset/"
    response = auth_client.post(url, {"label": "ants"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True and body["label"] == "ants"
    image = Image.objects.get(pk=body["image"])
    assert image.project_id == project.pk
    assert image.source == Image.Source.PREDICTION
    assert image.label.name == "ants"
    assert image.uploaded_by == user
    event = LabelEvent.objects.get(image=image)
    assert event.source == LabelEvent.Source.PREDICTION
    assert event.new_label_name == "ants"
    with default_storage.open(image.original.name, "rb") as handle:
        assert handle.read() == ant_jpeg
    assert PredictionLog.objects.get(uid=answer["id"]).added_image_id == image.pk

    again = auth_client.post(url, {"label": "ants"}, format="json")
    assert again.status_code == 200
    assert again.json() | {"created": None} == body | {"created": None, "duplicate": True}
    assert Image.objects.filter(project=project).count() == 1

    # The same picture predicted again is already in the data set: no second copy either.
    repeat = _predict(key_client, deployment, ant_jpeg)
    third = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/predictions/{repeat['id']}/add-to-dataset/",
        {"label": "ants"},
        format="json",
    )
    assert third.status_code == 200
    assert third.json()["image"] == image.pk
    assert Image.objects.filter(project=project).count() == 1


def test_add_to_dataset_needs_a_project_label(auth_client, key_client, deployment, ant_jpeg):
    answer = _predict(key_client, deployment, ant_jpeg)
    response = auth_client.post(
        f"/api/v1/deployments/{deployment.slug}/predictions/{answer['id']}/add-to-dataset/",
        {"label": "wasps"},
        format="json",
    )
    assert response.status_code == 400
    assert "ants, bees" in response.json()["error"]["message"]
    assert not Image.objects.exists()


def test_add_to_dataset_unknown_prediction_is_404(auth_client, deployment):
    for prediction_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = auth_client.post(
            f"/api/v1/deployments/{deployment.slug}/predictions/{prediction_id}/add-to-dataset/",
            {"label": "ants"},
            format="json",
        )
        assert response.status_code == 404


def test_add_to_dataset_is_owner_only(other_client, key_client, deployment, ant_jpeg):
    answer = _predict(key_client, deployment, ant_jpeg)
    response = other_client.post(
        f"/api/v1/deployments/{deployment.slug}/predictions/{answer['id']}/add-to-dataset/",
        {"label": "ants"},
        format="json",
    )
    assert response.status_code == 404
    assert not Image.objects.exists()


def test_prediction_of_another_deployment_is_404(
    auth_client, key_client, deployment, project, version, ant_jpeg
):
    from apps.deployments.services import deployment_create

    other = deployment_create(project=project, model_version_id=version.pk)
    answer = _predict(key_client, deployment, ant_jpeg)
    response = auth_client.get(f"/api/v1/deployments/{other.slug}/predictions/{answer['id']}/")
    assert response.status_code == 404
    ok = auth_client.get(f"/api/v1/deployments/{deployment.slug}/predictions/{answer['id']}/")
    assert ok.status_code == 200


def test_deleting_a_deployment_deletes_its_stored_images(
    auth_client, key_client, deployment, ant_jpeg, django_capture_on_commit_callbacks
):
    answer = _predict(key_client, deployment, ant_jpeg)
    name = PredictionLog.objects.get(uid=answer["id"]).image.name
    assert name.startswith(f"predictions/{deployment.slug}/")
    assert default_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.delete(f"/api/v1/deployments/{deployment.slug}/")
    assert response.status_code == 204
    assert not default_storage.exists(name)
    assert not PredictionLog.objects.exists()


# --- The background writer -------------------------------------------------------------------


def _entry(deployment, *, image: bytes | None = b"\xff\xd8fake") -> LogEntry:
    return LogEntry(
        uid=uuid.uuid4(),
        deployment_id=deployment.pk,
        deployment_slug=deployment.slug,
        model_version_id=deployment.model_version_id,
        label="ants",
        confidence=0.7,
        predictions=[{"label": "ants", "confidence": 0.7}, {"label": "bees", "confidence": 0.3}],
        uncertain=False,
        latency_ms=4.2,
        created_at=timezone.now(),
        source="api",
        image=image,
    )


@pytest.mark.django_db(transaction=True)
def test_background_writer_writes_off_the_request_thread(settings, deployment):
    settings.PREDICTION_LOG_BACKGROUND = True
    settings.PREDICTION_LOG_INTERVAL = 0.01
    writer = PredictionLogWriter()
    entries = [_entry(deployment) for _ in range(5)]
    writer.submit(entries)
    deadline = time.monotonic() + 10
    while PredictionLog.objects.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert set(PredictionLog.objects.values_list("uid", flat=True)) == {e.uid for e in entries}
    assert writer._thread is not None and writer._thread.name == "prediction-log-writer"
    writer.shutdown()


@pytest.mark.django_db(transaction=True)
def test_shutdown_writes_what_is_queued(settings, deployment):
    settings.PREDICTION_LOG_BACKGROUND = True
    settings.PREDICTION_LOG_INTERVAL = 5.0  # the thread would wait; shutdown must not
    writer = PredictionLogWriter()
    writer.submit([_entry(deployment, image=None) for _ in range(3)])
    started = time.monotonic()
    writer.shutdown()
    assert PredictionLog.objects.count() == 3
    assert writer.pending() == 0
    assert time.monotonic() - started < 8


@pytest.mark.django_db(transaction=True)
def test_entries_of_a_deleted_deployment_are_dropped_not_fatal(
    settings, deployment, project, version
):
    from apps.deployments.services import deployment_create

    keeper = deployment_create(project=project, model_version_id=version.pk)
    writer = PredictionLogWriter()
    doomed = _entry(deployment)
    kept = _entry(keeper)
    deployment.delete()
    writer.write([doomed, kept])
    assert list(PredictionLog.objects.values_list("uid", flat=True)) == [kept.uid]


@pytest.mark.django_db
def test_queue_is_bounded(settings, deployment):
    settings.PREDICTION_LOG_BACKGROUND = True
    settings.PREDICTION_LOG_MAX_QUEUE = 2
    settings.PREDICTION_LOG_INTERVAL = 60
    writer = PredictionLogWriter()
    writer._ensure_thread = lambda: None  # no thread: nothing drains the queue
    writer.submit([_entry(deployment, image=None) for _ in range(5)])
    assert writer.pending() == 2
    assert writer.dropped == 3


@pytest.mark.django_db
def test_queue_is_bounded_in_bytes(settings, deployment):
    """Entries hold their image: past PREDICTION_LOG_MAX_QUEUE_BYTES an entry keeps its row
    but not its picture, so a slow database cannot fill the memory with photos."""
    settings.PREDICTION_LOG_BACKGROUND = True
    settings.PREDICTION_LOG_MAX_QUEUE_BYTES = 3 * 1024 * 1024
    writer = PredictionLogWriter()
    writer._ensure_thread = lambda: None  # no thread: nothing drains the queue
    photo = b"\xff\xd8" + b"x" * (1024 * 1024)
    writer.submit([_entry(deployment, image=photo) for _ in range(5)])
    assert writer.pending() == 5
    assert writer.images_dropped == 3
    assert writer.queued_bytes() <= 3 * 1024 * 1024
    taken = writer._take(first_timeout=None)
    assert [e.image is not None for e in taken] == [True, True, False, False, False]
    assert writer.queued_bytes() == 0


@pytest.mark.django_db(transaction=True)
def test_database_errors_are_retried_not_dropped(settings, deployment, monkeypatch):
    """A batch the database refuses (restarting, locked) is written once it is back; the
    image files of the failed attempts do not stay behind."""
    from django.db import OperationalError

    import apps.deployments.prediction_log as prediction_log

    monkeypatch.setattr(prediction_log, "RETRY_DELAYS", (0.01,))
    settings.PREDICTION_LOG_BACKGROUND = True
    settings.PREDICTION_LOG_INTERVAL = 0.01
    failures = {"left": 3}
    real_bulk_create = PredictionLog.objects.bulk_create

    entries = [_entry(deployment) for _ in range(3)]
    ours = {e.uid for e in entries}

    def flaky(rows, *args, **kwargs):
        # Only this writer's batches fail: a writer left running by another test must not
        # use up the failures.
        rows = list(rows)
        if failures["left"] and any(row.uid in ours for row in rows):
            failures["left"] -= 1
            raise OperationalError("database is restarting")
        return real_bulk_create(rows, *args, **kwargs)

    monkeypatch.setattr(PredictionLog.objects, "bulk_create", flaky)
    writer = PredictionLogWriter()
    writer.submit(entries)
    deadline = time.monotonic() + 10
    while PredictionLog.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    writer.shutdown()
    assert set(PredictionLog.objects.values_list("uid", flat=True)) == {e.uid for e in entries}
    assert writer.retries == 3 and failures["left"] == 0
    _, files = default_storage.listdir(f"predictions/{deployment.slug}/")
    assert sorted(files) == sorted(
        row.image.name.rsplit("/", 1)[1] for row in PredictionLog.objects.all()
    )


@pytest.mark.django_db(transaction=True)
def test_a_flush_that_fails_keeps_the_entries_queued(settings, deployment, monkeypatch):
    from django.db import OperationalError

    import apps.deployments.prediction_log as prediction_log

    monkeypatch.setattr(prediction_log, "RETRY_DELAYS", (0.01,))
    settings.PREDICTION_LOG_BACKGROUND = True
    writer = PredictionLogWriter()
    writer._ensure_thread = lambda: None

    def down(rows, *args, **kwargs):
        raise OperationalError("database down")

    monkeypatch.setattr(PredictionLog.objects, "bulk_create", down)
    writer.submit([_entry(deployment) for _ in range(2)])
    assert writer.flush(attempts=2) is False
    assert writer.pending() == 2
    assert (
        not default_storage.exists(f"predictions/{deployment.slug}/")
        or not (default_storage.listdir(f"predictions/{deployment.slug}/")[1])
    )
    monkeypatch.undo()
    assert writer.flush() is True
    assert PredictionLog.objects.count() == 2


def test_sigterm_writes_the_queue_before_the_process_stops(tmp_path):
    """A server with no exit hook of its own (not gunicorn): SIGTERM still writes what is
    queued, then stops the process as SIGTERM would."""
    import os
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    script = f"""
import os, signal, sys, time
from types import SimpleNamespace
os.environ["DJANGO_SETTINGS_MODULE"] = "bakehouse.settings.test"
import django
django.setup()
from apps.deployments import prediction_log

written = []
prediction_log.writer.write = lambda entries: written.extend(entries) or open({str(tmp_path / "written")!r}, "w").write(str(len(written)))
from django.test import override_settings
with override_settings(PREDICTION_LOG_BACKGROUND=True, PREDICTION_LOG_INTERVAL=60):
    prediction_log.writer.submit([SimpleNamespace(image=None) for _ in range(2)])
    print("queued", flush=True)
    time.sleep(60)
"""
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "queued", process.stderr.read()
        time.sleep(0.3)
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(30) == -signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
    assert (tmp_path / "written").read_text() == "2"
