"""Training job services: creating (and refusing), cancelling, claiming, reaping (through
the job machine, ``apps.core.jobs``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.jobs import job_claim, job_finish, jobs_reap
from apps.datasets.models import Image
from apps.projects.models import Project
from apps.training.models import ModelVersion, TrainingJob
from apps.training.services import (
    LOST_WORKER_ERROR,
    training_job_cancel,
    training_job_create,
    training_job_run,
)
from tests.factories import ImageFactory, LabelFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _dispatched(callbacks) -> int:
    return len(callbacks)


# --- create ------------------------------------------------------------------------------


def test_create_freezes_snapshot_and_dispatches_after_commit(
    labeled_project, user, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    from apps.training import tasks

    monkeypatch.setattr(tasks.run_job, "apply_async", lambda **kw: sent.append(kw))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = training_job_create(project=labeled_project, mode="quick", created_by=user)
    assert sent == []  # nothing is queued before the commit
    for callback in callbacks:
        callback()
    assert sent == [{"args": [job.pk], "retry": False}]

    job.refresh_from_db()
    assert job.status == TrainingJob.Status.QUEUED
    assert job.mode == "quick" and job.created_by == user and job.attempts == 0
    images = Image.objects.filter(project=labeled_project).select_related("label")
    assert sorted(job.snapshot, key=lambda r: r["id"]) == sorted(
        ({"id": i.pk, "label": i.label.name, "split": i.split} for i in images),
        key=lambda r: r["id"],
    )


def test_create_gives_unsplit_images_a_split_before_the_snapshot(
    project, django_capture_on_commit_callbacks
):
    for label in ("ants", "bees"):
        ImageFactory.create_batch(5, project=project, label=label)
    Image.objects.filter(project=project).update(split="")
    with django_capture_on_commit_callbacks(execute=False):
        job = training_job_create(project=project)
    assert len(job.snapshot) == 10
    assert all(row["split"] in ("train", "val", "test") for row in job.snapshot)
    assert not Image.objects.filter(project=project, split="").exists()


def test_unlabeled_images_are_not_in_the_snapshot(
    labeled_project, django_capture_on_commit_callbacks
):
    unlabeled = ImageFactory(project=labeled_project)
    with django_capture_on_commit_callbacks(execute=False):
        job = training_job_create(project=labeled_project)
    assert unlabeled.pk not in {row["id"] for row in job.snapshot}
    assert len(job.snapshot) == 6


def test_refuses_fewer_than_two_labels(user):
    project = ProjectFactory(owner=user, labels=["ants"])
    ImageFactory.create_batch(3, project=project, label="ants")
    with pytest.raises(ApplicationError) as caught:
        training_job_create(project=project)
    assert caught.value.status_code == 400
    assert "at least 2 labels" in caught.value.message
    assert not TrainingJob.objects.exists()


def test_refuses_a_label_with_too_few_images_and_names_it(project):
    ImageFactory.create_batch(3, project=project, label="ants", split="train")
    ImageFactory(project=project, label="bees", split="train")
    with pytest.raises(ApplicationError) as caught:
        training_job_create(project=project)
    assert caught.value.code == "too_few_images"
    assert '"bees" has 1 image' in caught.value.message
    assert "ants" not in caught.value.message
    assert not TrainingJob.objects.exists()


def test_refuses_a_label_without_images(labeled_project):
    LabelFactory(project=labeled_project, name="wasps")
    with pytest.raises(ApplicationError) as caught:
        training_job_create(project=labeled_project)
    assert '"wasps" has 0 images' in caught.value.message


def test_refuses_a_label_with_no_training_image(project):
    ImageFactory.create_batch(3, project=project, label="ants", split="train")
    ImageFactory.create_batch(3, project=project, label="bees", split="test")
    with pytest.raises(ApplicationError) as caught:
        training_job_create(project=project)
    assert caught.value.code == "no_training_images"
    assert '"bees"' in caught.value.message


def test_refuses_multi_label_projects(labeled_project):
    Project.objects.filter(pk=labeled_project.pk).update(task_type="multi_label")
    labeled_project.refresh_from_db()
    with pytest.raises(ApplicationError) as caught:
        training_job_create(project=labeled_project)
    assert "not supported" in caught.value.message


def test_refuses_an_unknown_mode(labeled_project):
    with pytest.raises(ApplicationError) as caught:
        training_job_create(project=labeled_project, mode="turbo")
    assert caught.value.status_code == 400
    assert '"turbo"' in caught.value.message
    assert all(f'"{mode}"' in caught.value.message for mode in ("fast", "accurate", "finetune"))


@pytest.mark.parametrize(
    ("asked", "stored"), [("fast", "quick"), ("quick", "quick"), ("accurate", "accurate")]
)
def test_modes_by_intent(labeled_project, asked, stored, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        job = training_job_create(project=labeled_project, mode=asked)
    assert job.mode == stored


@pytest.mark.parametrize("status", ["queued", "running"])
def test_refuses_a_second_job_while_one_is_active(
    labeled_project, status, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        first = training_job_create(project=labeled_project)
    TrainingJob.objects.filter(pk=first.pk).update(status=status)
    with pytest.raises(ApplicationError) as caught:
        training_job_create(project=labeled_project)
    assert caught.value.status_code == 409
    assert caught.value.extra["job_id"] == first.pk
    assert TrainingJob.objects.count() == 1


def test_a_finished_job_does_not_block_a_new_one(
    labeled_project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        first = training_job_create(project=labeled_project)
        TrainingJob.objects.filter(pk=first.pk).update(status="failed")
        second = training_job_create(project=labeled_project)
    assert second.pk != first.pk


# --- cancel ------------------------------------------------------------------------------


def _job(project, **fields) -> TrainingJob:
    return TrainingJob.objects.create(project=project, **fields)


def test_cancel_a_queued_job_at_once(project):
    job = training_job_cancel(job=_job(project))
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finished_at is not None


def test_cancel_a_running_job_asks_it_to_stop(project):
    job = training_job_cancel(job=_job(project, status="running", attempts=1))
    job.refresh_from_db()
    assert job.status == "running" and job.cancel_requested


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_cancel_a_finished_job_is_refused(project, status):
    job = _job(project, status=status)
    with pytest.raises(ApplicationError) as caught:
        training_job_cancel(job=job)
    assert caught.value.status_code == 400
    job.refresh_from_db()
    assert job.status == status


# --- claim ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["running", "succeeded", "failed", "cancelled"])
def test_running_a_job_that_is_not_queued_is_a_no_op(project, status):
    job = _job(project, status=status, attempts=1, worker="elsewhere:1", progress=0.5)
    before = TrainingJob.objects.filter(pk=job.pk).values().get()
    assert training_job_run(job_id=job.pk) is None
    assert TrainingJob.objects.filter(pk=job.pk).values().get() == before
    assert not ModelVersion.objects.exists()


def test_running_a_job_that_is_gone_is_a_no_op():
    assert training_job_run(job_id=987654) is None


# --- reap ----------------------------------------------------------------------------------


def test_reaper_requeues_a_stale_job_with_attempts_left(
    project, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.JOB_MAX_ATTEMPTS = 2
    sent = []
    from apps.training import tasks

    monkeypatch.setattr(tasks.run_job, "apply_async", lambda **kw: sent.append(kw))
    old = timezone.now() - timedelta(seconds=60)
    stale = _job(project, status="running", attempts=1, worker="w:1", heartbeat_at=old)
    fresh = _job(project, status="running", attempts=1, heartbeat_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap(stale_after=8) == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == "queued" and stale.worker == "" and stale.error == ""
    assert "stopped sending heartbeats" in stale.log
    assert sent == [{"args": [stale.pk], "retry": False}]
    assert fresh.status == "running"


def test_reaper_fails_a_stale_job_without_attempts_left(project, settings):
    settings.JOB_MAX_ATTEMPTS = 2
    old = timezone.now() - timedelta(seconds=60)
    job = _job(project, status="running", attempts=2, heartbeat_at=old)
    assert jobs_reap(stale_after=8) == 1
    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None
    assert job.error == LOST_WORKER_ERROR
    assert "stopped unexpectedly" in job.error


def test_a_job_the_reaper_fails_is_announced_like_any_finished_job(
    project, settings, django_capture_on_commit_callbacks, monkeypatch
):
    """Webhooks (training.failed) and the retraining policy hear of a job whose last attempt
    died, as they do of one that failed while running."""
    from apps.core.hooks import on_training_finished
    from apps.training import tasks

    monkeypatch.setattr(tasks.run_job, "apply_async", lambda **kw: None)

    settings.JOB_MAX_ATTEMPTS = 2
    heard = []

    def receiver(*, job, **_):
        heard.append((job.pk, job.status, job.error))

    on_training_finished.connect(receiver)
    try:
        old = timezone.now() - timedelta(seconds=60)
        job = _job(project, status="running", attempts=2, heartbeat_at=old)
        retried = _job(project, status="running", attempts=1, heartbeat_at=old)
        with django_capture_on_commit_callbacks(execute=True):
            assert jobs_reap(stale_after=8) == 2
    finally:
        on_training_finished._receivers.remove(receiver)
    assert heard == [(job.pk, "failed", LOST_WORKER_ERROR)]
    retried.refresh_from_db()
    assert retried.status == "queued"


def test_reaper_cancels_a_stale_job_whose_cancel_was_requested(project):
    old = timezone.now() - timedelta(seconds=60)
    job = _job(project, status="running", attempts=1, heartbeat_at=old, cancel_requested=True)
    jobs_reap(stale_after=8)
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_reaper_leaves_queued_and_finished_jobs_alone(project):
    old = timezone.now() - timedelta(seconds=60)
    for status in ("queued", "succeeded", "failed"):
        _job(project, status=status, heartbeat_at=old)
    assert jobs_reap(stale_after=8) == 0
    assert set(TrainingJob.objects.values_list("status", flat=True)) == {
        "queued",
        "succeeded",
        "failed",
    }


def test_a_reaped_job_is_run_by_the_next_claim_and_the_old_attempt_cannot_close_it(
    project, settings
):
    settings.JOB_MAX_ATTEMPTS = 3
    old = timezone.now() - timedelta(seconds=60)
    job = _job(project, status="running", attempts=1, heartbeat_at=old)
    jobs_reap(stale_after=8)
    claimed = job_claim(TrainingJob, job.pk)
    assert claimed is not None and claimed.attempts == 2 and claimed.status == "running"
    # The first attempt (say its worker was only frozen) cannot overwrite the new one.
    assert job_finish(job, status="failed", error="late") is False
    job.refresh_from_db()
    assert job.status == "running" and job.error == ""


def test_training_runs_on_its_own_queue():
    """The training worker (one process) listens on "training" only; every other task goes to
    "default", so a long training never holds up imports and embeddings."""
    from bakehouse.celery import app

    route = app.amqp.router.route
    assert route({}, "training.run_job")["queue"].name == "training"
    for name in ("training.embed_images", "datasets.run_import", "core.reap_stale_jobs"):
        assert route({}, name)["queue"].name == "default"
