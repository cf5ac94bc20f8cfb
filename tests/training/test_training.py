"""Training for real (eager Celery, real backbone, real ants and bees photos): the job's
outcome, its model version and artifacts, cached embeddings, snapshots, failures."""

from __future__ import annotations

import io

import numpy as np
import onnxruntime as ort
import pytest
import torch
from django.core.files.storage import default_storage

from apps.datasets.models import Image
from apps.labeling.services import image_update
from apps.ml import build_classifier, load_state, preprocess_batch
from apps.training.models import Embedding, ModelVersion, TrainingJob
from apps.training.services import (
    embeddings_compute,
    image_open_normalized,
    training_job_create,
    training_job_run,
)
from tests.training.conftest import add_real_images

pytestmark = pytest.mark.django_db

SPLITS = {"train": 8, "val": 4}


@pytest.fixture
def real_project(project, hymenoptera):
    add_real_images(project, hymenoptera, split_counts=SPLITS)
    return project


def _train(project, django_capture_on_commit_callbacks, mode: str = "quick") -> TrainingJob:
    """Create a job; the commit hook runs the Celery task eagerly (as a worker would)."""
    with django_capture_on_commit_callbacks(execute=True):
        job = training_job_create(project=project, mode=mode)
    job.refresh_from_db()
    return job


def test_quick_training_end_to_end(real_project, django_capture_on_commit_callbacks):
    job = _train(real_project, django_capture_on_commit_callbacks)
    assert job.status == "succeeded", (job.error, job.log)
    assert job.progress == 1.0 and job.attempts == 1 and job.finished_at is not None
    version = job.model_version
    assert version.number == 1 and version.mode == "quick"
    assert version.labels == ["ants", "bees"] and version.backbone == "efficientnet_lite0"
    assert version.snapshot == job.snapshot and len(version.snapshot) == 24

    metrics = version.metrics
    assert metrics["evaluated_on"] == "val"
    assert metrics["count"] == 8 and metrics["counts"]["train"] == 16
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["ece"] <= 1.0
    assert set(metrics["per_class"]) == {"ants", "bees"}
    assert np.asarray(metrics["confusion_matrix"]).sum() == 8
    assert metrics["accuracy"] >= 0.75  # real photos, a pretrained backbone
    val_ids = {row["id"] for row in job.snapshot if row["split"] == "val"}
    assert all(m["id"] in val_ids for m in metrics["misclassified"])
    history = metrics["history"]
    assert history and {"step", "loss", "train_accuracy", "val_accuracy"} <= set(history[-1])
    assert set(metrics["timings"]) >= {"embedding", "training", "evaluating", "exporting", "total"}
    assert metrics["target"]["metric"] == "accuracy" and metrics["target"]["value"] == 0.9
    assert metrics["target"]["reached"] == (metrics["accuracy"] >= 0.9)

    folder = f"projects/{real_project.pk}/models/1/"
    assert version.onnx_file.name.startswith(folder)
    assert version.head_file.name.startswith(folder)
    assert not version.model_file
    assert Embedding.objects.filter(image__project=real_project).count() == 24


def test_onnx_artifact_matches_the_torch_classifier(
    real_project, django_capture_on_commit_callbacks
):
    version = _train(real_project, django_capture_on_commit_callbacks).model_version
    with default_storage.open(version.head_file.name, "rb") as handle:
        head_state = load_state(io.BytesIO(handle.read()))
    model = build_classifier(version.backbone, len(version.labels), head_state=head_state)
    with default_storage.open(version.onnx_file.name, "rb") as handle:
        session = ort.InferenceSession(handle.read(), providers=["CPUExecutionProvider"])

    images = [image_open_normalized(i.normalized.name) for i in Image.objects.all()[:12]]
    batch = preprocess_batch(images, version.backbone)
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch)).numpy()
    got = session.run(None, {"input": batch})[0]
    assert got.shape == (12, 2)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert np.max(np.abs(got - expected)) < 1e-4
    # And the stored metrics are those of this artifact: same predictions on val.
    val_ids = [row["id"] for row in version.snapshot if row["split"] == "val"]
    val_images = [image_open_normalized(Image.objects.get(pk=i).normalized.name) for i in val_ids]
    probs = session.run(None, {"input": preprocess_batch(val_images, version.backbone)})[0]
    truth = [version.labels.index(row["label"]) for row in version.snapshot if row["id"] in val_ids]
    accuracy = float(np.mean(probs.argmax(1) == np.asarray(truth)))
    assert accuracy == pytest.approx(version.metrics["accuracy"], abs=1e-4)


def test_retraining_reuses_cached_embeddings(
    real_project, hymenoptera, django_capture_on_commit_callbacks, monkeypatch
):
    first = _train(real_project, django_capture_on_commit_callbacks)
    assert first.status == "succeeded"
    add_real_images(real_project, hymenoptera, split_counts={"train": 1}, offset=SPLITS["train"])

    embedded: list[int] = []
    import apps.ml.embedding as embedding

    real_embed = embedding.embed

    def counting_embed(images, **kwargs):
        images = list(images)
        embedded.append(len(images))
        return real_embed(images, **kwargs)

    monkeypatch.setattr(embedding, "embed", counting_embed)
    second = _train(real_project, django_capture_on_commit_callbacks)
    assert second.status == "succeeded"
    assert sum(embedded) == 2  # only the two new images
    assert second.model_version.number == 2
    assert second.metrics["counts"]["train"] == 18


def test_a_relabel_after_training_does_not_change_what_the_model_was_trained_on(
    real_project, django_capture_on_commit_callbacks
):
    job = _train(real_project, django_capture_on_commit_callbacks)
    version = job.model_version
    before = list(version.snapshot)
    ant = Image.objects.filter(project=real_project, label__name="ants").first()
    image_update(image=ant, label="bees")
    image_update(image=Image.objects.filter(project=real_project).last(), split="test")
    version.refresh_from_db()
    job.refresh_from_db()
    assert version.snapshot == before and job.snapshot == before
    row = next(r for r in version.snapshot if r["id"] == ant.pk)
    assert row["label"] == "ants"


def test_the_job_trains_on_its_snapshot_not_on_later_labels(
    real_project, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = training_job_create(project=real_project)
    # Relabel everything after the job was created, before a worker picks it up.
    Image.objects.filter(project=real_project).update(label=None)
    for callback in callbacks:
        callback()
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert job.model_version.labels == ["ants", "bees"]
    assert job.model_version.metrics["counts"]["train"] == 16


def test_running_the_task_twice_makes_one_model(real_project, django_capture_on_commit_callbacks):
    job = _train(real_project, django_capture_on_commit_callbacks)
    assert job.status == "succeeded"
    assert training_job_run(job_id=job.pk) is None
    assert ModelVersion.objects.filter(project=real_project).count() == 1


def test_a_failed_job_keeps_its_error_and_changes_nothing(
    real_project, django_capture_on_commit_callbacks, monkeypatch
):
    import apps.ml

    def broken_fit(*args, **kwargs):
        raise RuntimeError("the optimiser exploded")

    monkeypatch.setattr(apps.ml, "fit_quick", broken_fit)
    before = sorted(Image.objects.filter(project=real_project).values_list("id", "label", "split"))
    job = _train(real_project, django_capture_on_commit_callbacks)
    assert job.status == "failed"
    assert job.error == "Training failed: the optimiser exploded"
    assert "Traceback" in job.log and "RuntimeError" in job.log
    assert job.finished_at is not None and job.model_version is None
    assert not ModelVersion.objects.exists()
    after = sorted(Image.objects.filter(project=real_project).values_list("id", "label", "split"))
    assert after == before
    models_folder = f"projects/{real_project.pk}/models"
    assert not default_storage.exists(models_folder) or default_storage.listdir(models_folder) == (
        [],
        [],
    )


def test_out_of_memory_is_said_in_plain_words(
    real_project, django_capture_on_commit_callbacks, monkeypatch
):
    import apps.ml

    def hungry_fit(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr(apps.ml, "fit_quick", hungry_fit)
    job = _train(real_project, django_capture_on_commit_callbacks)
    assert job.status == "failed"
    assert job.error.startswith("Training ran out of memory")


def test_cancel_while_running_ends_cancelled(
    real_project, django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.JOB_HEARTBEAT_SECONDS = 0  # check for a cancel on every call
    import apps.ml

    real_fit = apps.ml.fit_quick
    seen = {}

    def fit_then_cancel(*args, should_stop, **kwargs):
        job = TrainingJob.objects.get()
        seen["status"] = job.status
        TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        return real_fit(*args, should_stop=should_stop, **kwargs)

    monkeypatch.setattr(apps.ml, "fit_quick", fit_then_cancel)
    job = _train(real_project, django_capture_on_commit_callbacks)
    assert seen["status"] == "running"
    assert job.status == "cancelled" and job.finished_at is not None
    assert not ModelVersion.objects.exists()


def test_progress_writes_are_throttled(project, django_assert_max_num_queries):
    from apps.training.services import JobMonitor

    job = TrainingJob.objects.create(project=project, status="running", attempts=1)
    monitor = JobMonitor(job)
    with django_assert_max_num_queries(4):
        for step in range(500):
            monitor.report(stage="training", progress=step / 500, metrics={"history": []})
            monitor.should_stop()
    monitor.stop()
    job.refresh_from_db()
    assert job.stage == "training" and job.progress == pytest.approx(499 / 500)


def test_embeddings_compute_is_idempotent(real_project):
    ids = list(Image.objects.filter(project=real_project).values_list("id", flat=True)[:5])
    assert embeddings_compute(image_ids=ids) == 5
    assert embeddings_compute(image_ids=ids) == 0
    vectors = Embedding.objects.filter(image_id__in=ids)
    assert vectors.count() == 5
    assert all(len(bytes(v.vector)) == 1280 * 4 for v in vectors)


def test_evaluation_uses_test_when_it_has_images(
    project, hymenoptera, django_capture_on_commit_callbacks
):
    add_real_images(project, hymenoptera, split_counts={"train": 6, "val": 2, "test": 3})
    job = _train(project, django_capture_on_commit_callbacks)
    assert job.status == "succeeded", job.error
    assert job.metrics["evaluated_on"] == "test" and job.metrics["count"] == 6


def test_without_val_images_part_of_train_is_held_out(
    project, hymenoptera, django_capture_on_commit_callbacks
):
    add_real_images(project, hymenoptera, split_counts={"train": 10})
    job = _train(project, django_capture_on_commit_callbacks)
    assert job.status == "succeeded", job.error
    metrics = job.metrics
    assert metrics["evaluated_on"] == "val (held out from train)"
    assert metrics["counts"]["val_held_out_from_train"] == 4  # 20 % of 10 ants and of 10 bees
    assert metrics["counts"]["train"] == 16 and metrics["counts"]["val"] == 4
    assert metrics["count"] == 4


@pytest.mark.slow
def test_finetune_end_to_end(project, hymenoptera, django_capture_on_commit_callbacks, monkeypatch):
    """One epoch on a few images: the whole fine-tuning path, its files and its ONNX."""
    import functools

    import apps.ml

    monkeypatch.setattr(apps.ml, "FinetuneSpec", functools.partial(apps.ml.FinetuneSpec, epochs=1))
    add_real_images(project, hymenoptera, split_counts={"train": 3, "val": 2})
    job = _train(project, django_capture_on_commit_callbacks, mode="finetune")
    assert job.status == "succeeded", (job.error, job.log)
    version = job.model_version
    assert version.mode == "finetune" and version.model_file.name.endswith("model.pt")
    metrics = version.metrics
    epochs = [h["epoch"] for h in metrics["history"]]
    assert epochs[-1] == 1 and len(epochs) <= 2  # one epoch (after the probe's row, if any)
    assert metrics["evaluated_on"] == "val" and metrics["count"] == 4
    assert set(metrics["linear_probe"]) == {"accuracy", "macro_f1"}
    assert metrics["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert set(metrics["timings"]) >= {"embedding", "training", "evaluating", "exporting"}

    with default_storage.open(version.model_file.name, "rb") as handle:
        model_state = load_state(io.BytesIO(handle.read()))
    model = build_classifier(version.backbone, 2, model_state=model_state)
    with default_storage.open(version.onnx_file.name, "rb") as handle:
        session = ort.InferenceSession(handle.read(), providers=["CPUExecutionProvider"])
    images = [image_open_normalized(i.normalized.name) for i in Image.objects.all()[:6]]
    batch = preprocess_batch(images, version.backbone)
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch)).numpy()
    assert np.max(np.abs(session.run(None, {"input": batch})[0] - expected)) < 1e-4
