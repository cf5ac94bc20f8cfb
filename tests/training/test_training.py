"""Training for real (eager Celery, real backbone, real ants and bees photos): the job's
outcome, its model version and artifacts, cached embeddings, snapshots, failures."""

from __future__ import annotations

import io
from datetime import timedelta

import numpy as np
import onnxruntime as ort
import pytest
import torch
from django.core.files.storage import default_storage
from django.utils import timezone

from apps import ml as apps_ml
from apps.datasets.models import Image
from apps.labeling.services import image_update
from apps.ml import build_classifier, load_state, preprocess_batch
from apps.training.embeddings import image_open_normalized
from apps.training.models import Embedding, ModelVersion, TrainingJob
from apps.training.services import training_job_create, training_job_run
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
    # No test images: every labelled image trains the head that ships, and the figures come
    # from cross-validation (each image scored by a head trained without it).
    assert metrics["evaluated_on"] == "cross-validation"
    assert metrics["count"] == 24 and metrics["counts"]["train"] == 24
    assert metrics["counts"]["val"] == 0
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["ece"] <= 1.0
    assert set(metrics["per_class"]) == {"ants", "bees"}
    assert np.asarray(metrics["confusion_matrix"]).sum() == 24
    assert metrics["accuracy"] >= 0.75  # real photos, a pretrained backbone
    assert metrics["cv_accuracy"]["images"] == 24
    assert metrics["cv_accuracy"]["value"] == pytest.approx(metrics["accuracy"], abs=1e-4)
    assert metrics["regularisation"]["l2"] in apps_ml.L2_GRID
    assert len(metrics["regularisation"]["scores"]) == len(apps_ml.L2_GRID)
    snapshot_ids = {row["id"] for row in job.snapshot}
    assert all(m["id"] in snapshot_ids for m in metrics["misclassified"])
    history = metrics["history"]
    assert history and {"step", "loss", "train_accuracy"} <= set(history[-1])
    assert set(metrics["timings"]) >= {"embedding", "training", "evaluating", "exporting", "total"}
    assert metrics["target"]["metric"] == "accuracy" and metrics["target"]["value"] == 0.9
    assert metrics["target"]["reached"] == (metrics["accuracy"] >= 0.9)

    folder = f"projects/{real_project.pk}/models/1/"
    assert version.onnx_file.name.startswith(folder)
    assert version.head_file.name.startswith(folder)
    assert not version.model_file
    assert Embedding.objects.filter(image__project=real_project).count() == 24


def test_onnx_artifact_matches_the_torch_classifier(
    real_project, hymenoptera, django_capture_on_commit_callbacks
):
    add_real_images(real_project, hymenoptera, split_counts={"test": 4}, offset=SPLITS["train"])
    version = _train(real_project, django_capture_on_commit_callbacks).model_version
    assert version.metrics["evaluated_on"] == "test" and version.metrics["count"] == 8
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
    # And the stored metrics are those of this artifact: same predictions on test.
    val_ids = [row["id"] for row in version.snapshot if row["split"] == "test"]
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
    import apps.ml

    real_embed = apps.ml.embed

    def counting_embed(images, **kwargs):
        images = list(images)
        embedded.append(len(images))
        return real_embed(images, **kwargs)

    monkeypatch.setattr(apps.ml, "embed", counting_embed)
    second = _train(real_project, django_capture_on_commit_callbacks)
    assert second.status == "succeeded"
    assert sum(embedded) == 2  # only the two new images
    assert second.model_version.number == 2
    assert second.metrics["counts"]["train"] == 26  # 16 train + 8 val + the 2 new


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
    assert job.model_version.metrics["counts"]["train"] == 24  # train and val


def test_running_the_task_twice_makes_one_model(real_project, django_capture_on_commit_callbacks):
    job = _train(real_project, django_capture_on_commit_callbacks)
    assert job.status == "succeeded"
    assert training_job_run(job_id=job.pk) is None
    assert ModelVersion.objects.filter(project=real_project).count() == 1


def test_a_failed_job_keeps_its_error_and_changes_nothing(
    real_project, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    import apps.ml

    def broken_fit(*args, **kwargs):
        raise RuntimeError("the optimiser exploded")

    monkeypatch.setattr(apps.ml, "fit_quick", broken_fit)
    before = sorted(Image.objects.filter(project=real_project).values_list("id", "label", "split"))
    job = _train(real_project, django_capture_on_commit_callbacks)
    assert job.status == "failed"
    assert job.error == "Training failed: the optimiser exploded"
    # The user reads a sentence; the traceback is in the worker's log only (issue 12).
    assert "attempt 1 failed: Training failed: the optimiser exploded" in job.log
    assert "Traceback" not in job.log and "RuntimeError" not in job.log
    assert "Traceback" in caplog.text and "the optimiser exploded" in caplog.text
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


def test_evaluation_uses_test_when_it_has_images(
    project, hymenoptera, django_capture_on_commit_callbacks
):
    add_real_images(project, hymenoptera, split_counts={"train": 6, "val": 2, "test": 3})
    job = _train(project, django_capture_on_commit_callbacks)
    assert job.status == "succeeded", job.error
    assert job.metrics["evaluated_on"] == "test" and job.metrics["count"] == 6
    # Quick mode trains on train and val together: nothing is spent on validation.
    assert job.metrics["counts"]["train"] == 16 and job.metrics["counts"]["val"] == 0


def test_quick_mode_with_only_train_images_trains_on_all_of_them(
    project, hymenoptera, django_capture_on_commit_callbacks
):
    add_real_images(project, hymenoptera, split_counts={"train": 10})
    job = _train(project, django_capture_on_commit_callbacks)
    assert job.status == "succeeded", job.error
    metrics = job.metrics
    assert metrics["evaluated_on"] == "cross-validation"
    assert "val_held_out_from_train" not in metrics["counts"]
    assert metrics["counts"]["train"] == 20 and metrics["count"] == 20


@pytest.mark.slow
def test_accurate_mode_trains_on_lite2_features_and_serves_them(
    real_project, django_capture_on_commit_callbacks
):
    job = _train(real_project, django_capture_on_commit_callbacks, mode="accurate")
    assert job.status == "succeeded", (job.error, job.log)
    version = job.model_version
    assert version.mode == "accurate" and version.backbone == "efficientnet_lite2"
    assert real_project.backbone == "efficientnet_lite0"  # the project's own stays as it was
    assert Embedding.objects.filter(backbone="efficientnet_lite2").count() == 24
    assert version.metrics["evaluated_on"] == "cross-validation"
    assert version.metrics["accuracy"] >= 0.75
    # The ONNX file takes Lite2's 260-pixel input and gives what the torch model gives.
    with default_storage.open(version.onnx_file.name, "rb") as handle:
        session = ort.InferenceSession(handle.read(), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[-1] == 260
    images = [image_open_normalized(i.normalized.name) for i in Image.objects.all()[:4]]
    batch = preprocess_batch(images, version.backbone)
    with default_storage.open(version.head_file.name, "rb") as handle:
        head_state = load_state(io.BytesIO(handle.read()))
    model = build_classifier(version.backbone, 2, head_state=head_state)
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch)).numpy()
    assert np.max(np.abs(session.run(None, {"input": batch})[0] - expected)) < 1e-4


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


@pytest.mark.slow
def test_a_retried_finetune_job_resumes_from_its_last_checkpoint(
    project, hymenoptera, django_capture_on_commit_callbacks, monkeypatch, settings
):
    """The worker dies after epoch 1 of 2; the reaper re-queues the job and the next attempt
    trains epoch 2 only, from the checkpoint in the media storage, which is then deleted."""
    import functools

    import apps.ml
    from apps.core.jobs import jobs_reap
    from apps.training import checkpoints, runner

    settings.JOB_MAX_ATTEMPTS = 2
    monkeypatch.setattr(
        apps.ml, "FinetuneSpec", functools.partial(apps.ml.FinetuneSpec, epochs=2, patience=5)
    )
    add_real_images(project, hymenoptera, split_counts={"train": 3, "val": 2})
    with django_capture_on_commit_callbacks(execute=False):
        job = training_job_create(project=project, mode="finetune")

    saved_epochs: list[int] = []
    real_save = checkpoints.checkpoint_save

    def save_then_die(job, *, epoch, data):
        saved_epochs.append(epoch)
        assert real_save(job, epoch=epoch, data=data)
        if epoch == 1 and job.attempts == 1:
            raise SystemExit("the worker was killed")
        return True

    monkeypatch.setattr(runner, "checkpoint_save", save_then_die)
    with pytest.raises(SystemExit):
        training_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 1
    first_checkpoint = job.checkpoint
    assert first_checkpoint.startswith(f"projects/{project.pk}/training-jobs/{job.pk}/")
    assert default_storage.exists(first_checkpoint)

    # No heartbeat for a while: the reaper hands the job to a second attempt, which runs.
    TrainingJob.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=600)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap(stale_after=60) == 1
    job.refresh_from_db()
    assert job.status == "succeeded", (job.error, job.log)
    assert job.attempts == 2
    assert saved_epochs == [1, 2]  # epoch 1 was not trained again
    epochs = [row["epoch"] for row in job.model_version.metrics["history"]]
    assert epochs[-2:] == [1, 2]
    assert "attempt 1" in job.log and "Traceback" not in job.log
    # Finished: the checkpoint is gone from the storage and from the row.
    assert job.checkpoint == ""
    assert not default_storage.exists(first_checkpoint)
    assert default_storage.listdir(f"projects/{project.pk}/training-jobs/{job.pk}")[1] == []
