"""Cached embeddings: computing them, and the background embedding jobs freshly stored
images get (chunked, claimed on the job machine, with an attempt limit)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.hooks import on_images_created
from apps.core.jobs import jobs_reap
from apps.datasets.models import Image
from apps.training import embeddings, tasks
from apps.training.embeddings import (
    EMBEDDING_FAILED_ERROR,
    EMBEDDING_LOST_ERROR,
    embedding_job_run,
    embeddings_compute,
    embeddings_schedule,
)
from apps.training.models import Embedding, EmbeddingJob
from tests.factories import ImageFactory
from tests.training.conftest import add_real_images

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_project(project, hymenoptera):
    add_real_images(project, hymenoptera, split_counts={"train": 3})
    return project


@pytest.fixture
def sent(monkeypatch):
    """The embedding tasks handed to the broker (not run)."""
    messages = []
    monkeypatch.setattr(tasks.embed_images, "apply_async", lambda **kw: messages.append(kw))
    return messages


def test_embeddings_compute_is_idempotent(real_project):
    ids = list(Image.objects.filter(project=real_project).values_list("id", flat=True)[:5])
    assert embeddings_compute(image_ids=ids) == 5
    assert embeddings_compute(image_ids=ids) == 0
    vectors = Embedding.objects.filter(image_id__in=ids)
    assert vectors.count() == 5
    assert all(len(bytes(v.vector)) == 1280 * 4 for v in vectors)


def test_new_images_are_cut_into_chunks_each_dispatched_after_the_commit(
    project, settings, monkeypatch, sent, django_capture_on_commit_callbacks
):
    ids = [image.pk for image in ImageFactory.create_batch(5, project=project)]
    settings.EMBED_ON_INGEST = True
    monkeypatch.setattr(embeddings, "EMBED_JOB_CHUNK", 2)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        jobs = embeddings_schedule(image_ids=ids)
    assert sent == []
    for callback in callbacks:
        callback()
    assert [job.image_ids for job in jobs] == [ids[0:2], ids[2:4], ids[4:]]
    assert all(job.status == "queued" and job.project_id == project.pk for job in jobs)
    assert sent == [{"args": [job.pk], "retry": False} for job in jobs]


def test_the_images_created_hook_schedules_embeddings(
    project, settings, sent, django_capture_on_commit_callbacks
):
    ids = [image.pk for image in ImageFactory.create_batch(3, project=project)]
    settings.EMBED_ON_INGEST = True
    with django_capture_on_commit_callbacks(execute=True):
        on_images_created.send(image_ids=ids)
    job = EmbeddingJob.objects.get()
    assert job.image_ids == ids and len(sent) == 1


def test_nothing_is_scheduled_when_embedding_on_ingest_is_off(project, settings, sent):
    settings.EMBED_ON_INGEST = False
    image = ImageFactory(project=project)
    assert embeddings_schedule(image_ids=[image.pk]) == []
    assert not EmbeddingJob.objects.exists()


def test_an_embedding_job_embeds_its_chunk_once(real_project):
    ids = list(Image.objects.filter(project=real_project).values_list("id", flat=True))
    job = EmbeddingJob.objects.create(project=real_project, image_ids=ids[:4])
    done = embedding_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert done is not None and job.status == "succeeded" and job.embedded == 4
    assert job.attempts == 1 and job.finished_at is not None
    assert set(Embedding.objects.values_list("image_id", flat=True)) == set(ids[:4])
    # A re-delivered message does nothing.
    assert embedding_job_run(job_id=job.pk) is None
    assert embedding_job_run(job_id=987654) is None


def test_a_project_that_trained_in_accurate_mode_gets_lite2_embeddings_at_upload(real_project):
    from apps.training.models import ACCURATE_BACKBONE, TrainingJob
    from apps.training.selectors import ingest_backbones

    assert ingest_backbones(project_id=real_project.pk) == [real_project.backbone]
    TrainingJob.objects.create(
        project=real_project, mode=TrainingJob.Mode.ACCURATE, status=TrainingJob.Status.SUCCEEDED
    )
    assert ingest_backbones(project_id=real_project.pk) == [
        real_project.backbone,
        ACCURATE_BACKBONE,
    ]
    ids = list(Image.objects.filter(project=real_project).values_list("id", flat=True))[:2]
    job = EmbeddingJob.objects.create(project=real_project, image_ids=ids)
    embedding_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.embedded == 4
    stored = set(Embedding.objects.values_list("image_id", "backbone"))
    assert stored == {(i, b) for i in ids for b in (real_project.backbone, ACCURATE_BACKBONE)}


def test_a_failing_embedding_job_says_so_in_plain_words(real_project, monkeypatch, caplog):
    import apps.ml

    def broken_embed(*args, **kwargs):
        raise RuntimeError("onnxruntime exploded")

    monkeypatch.setattr(apps.ml, "embed", broken_embed)
    ids = list(Image.objects.filter(project=real_project).values_list("id", flat=True))
    job = EmbeddingJob.objects.create(project=real_project, image_ids=ids)
    embedding_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and job.error == EMBEDDING_FAILED_ERROR
    assert "Traceback" not in job.error and "onnxruntime exploded" in caplog.text


def test_a_lost_embedding_job_is_retried_until_its_attempts_run_out(
    project, settings, sent, django_capture_on_commit_callbacks
):
    settings.JOB_MAX_ATTEMPTS = 2
    old = timezone.now() - timedelta(seconds=600)
    retried = EmbeddingJob.objects.create(
        project=project, image_ids=[1], status="running", attempts=1, heartbeat_at=old
    )
    spent = EmbeddingJob.objects.create(
        project=project, image_ids=[2], status="running", attempts=2, heartbeat_at=old
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap(stale_after=60) == 2
    retried.refresh_from_db()
    spent.refresh_from_db()
    assert retried.status == "queued" and sent == [{"args": [retried.pk], "retry": False}]
    assert spent.status == "failed" and spent.error == EMBEDDING_LOST_ERROR
