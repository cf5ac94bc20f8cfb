"""Writes for training jobs and the model versions they make.

A training job's life (on the job machine, ``apps.core.jobs``): ``training_job_create``
checks the data, freezes the labeled images into the job's ``snapshot`` and dispatches the
Celery task after the commit. The task calls ``training_job_run``, which claims the row
(only a queued job starts), trains outside any transaction through ``apps.ml`` (see
``apps.training.runner``) while a ``JobMonitor`` thread writes progress and fenced
heartbeats and reads cancel requests, then records the outcome in one short transaction.
The job machine's reaper re-queues or fails jobs whose worker died
(``training_job_on_lost``), so no job stays "running" for ever; a re-queued fine-tuning
job resumes from its last epoch's checkpoint (``apps.training.checkpoints``).

What a user reads (``error``, ``log``) is plain sentences; tracebacks go to the worker's
log only, under the job's id.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps import ml
from apps.core.exceptions import ApplicationError
from apps.core.hooks import on_training_finished
from apps.core.jobs import job_claim, job_dispatch, job_finish
from apps.core.storage import project_storage_prefix
from apps.datasets.models import Image
from apps.datasets.splits import images_assign_splits
from apps.projects.models import Label, Project
from apps.training.checkpoints import checkpoint_delete
from apps.training.compression_jobs import compression_after_training
from apps.training.health.services import health_after_training
from apps.training.models import ModelVersion, TrainingJob
from apps.training.monitor import JobMonitor
from apps.training.runner import HOLDOUT_FRACTION, train

logger = logging.getLogger(__name__)

MIN_LABELS = 2
MIN_IMAGES_PER_LABEL = 2
# The job's log keeps its last this many characters.
LOG_LIMIT = 100_000

LOST_WORKER_ERROR = (
    "The worker running this job stopped unexpectedly (it was restarted, killed or ran out "
    "of memory), and the job was already retried. Nothing in your data set was changed; "
    "start training again."
)


# --- Creating and cancelling jobs ----------------------------------------------------------


def _labeled_rows(project: Project) -> list[dict[str, Any]]:
    rows = (
        Image.objects.filter(project=project, label__isnull=False)
        .order_by("id")
        .values_list("id", "label__name", "split")
    )
    return [{"id": i, "label": name, "split": split} for i, name, split in rows]


def _check_data(project: Project, rows: list[dict[str, Any]]) -> None:
    """Refuse, in words the user can act on, data that cannot make a model."""
    label_names = list(Label.objects.filter(project=project).values_list("name", flat=True))
    if len(label_names) < MIN_LABELS:
        raise ApplicationError(
            'Training needs at least 2 labels (for example "ants" and "bees"). '
            f"This project has {len(label_names)}.",
            code="too_few_labels",
        )
    counts = Counter(row["label"] for row in rows)
    short = [name for name in label_names if counts[name] < MIN_IMAGES_PER_LABEL]
    if short:
        described = ", ".join(
            f'"{name}" has {counts[name]} image{"" if counts[name] == 1 else "s"}' for name in short
        )
        raise ApplicationError(
            f"Every label needs at least {MIN_IMAGES_PER_LABEL} labeled images before "
            f"training: {described}. Label more images, or delete the labels you do not use.",
            code="too_few_images",
            extra={"labels": short},
        )
    in_train = Counter(row["label"] for row in rows if row["split"] in ("train", ""))
    missing = [name for name in label_names if not in_train[name]]
    if missing:
        names = ", ".join(f'"{name}"' for name in missing)
        raise ApplicationError(
            f"No image of {names} is in the training split, so the model could not learn "
            "it. Move some of its images to train.",
            code="no_training_images",
            extra={"labels": missing},
        )


# Modes by intent: "fast" is stored under its first name, "quick" (still accepted).
MODE_SYNONYMS = {"fast": TrainingJob.Mode.QUICK}


def training_job_create(
    *, project: Project, mode: str = TrainingJob.Mode.QUICK, created_by: Any = None
) -> TrainingJob:
    """Check the project's data, freeze it into a new job and queue the job (after the
    commit, on the "training" queue). Answers 400 for data that cannot be trained on and
    409 while another job of the project is queued or running."""
    mode = MODE_SYNONYMS.get(mode, mode)
    if mode not in TrainingJob.Mode.values:
        raise ApplicationError(
            f'Unknown training mode "{mode}". Choose "fast", "accurate" or "finetune".',
            code="invalid_mode",
        )
    if project.task_type == Project.TaskType.MULTI_LABEL:
        raise ApplicationError(
            "Training is not supported for projects with several labels per image yet. "
            "Use a project with one label per image.",
            code="multi_label_unsupported",
        )
    try:
        ml.get_backbone(project.backbone)
    except ValueError as exc:
        raise ApplicationError(str(exc), code="unknown_backbone") from exc

    with transaction.atomic():
        # Serialises concurrent "Train" clicks on PostgreSQL (SQLite's IMMEDIATE
        # transactions already run one at a time).
        Project.objects.select_for_update().filter(pk=project.pk).first()
        active = (
            TrainingJob.objects.filter(project=project, status__in=TrainingJob.ACTIVE)
            .order_by("-id")
            .first()
        )
        if active is not None:
            raise ApplicationError(
                "This project is already training a model (job "
                f"{active.pk}, {active.status}). Wait for it to finish or cancel it.",
                code="job_active",
                status_code=409,
                extra={"job_id": active.pk},
            )
        # Labeled images still without a split get one now, so the snapshot is complete.
        images_assign_splits(project_id=project.pk)
        rows = _labeled_rows(project)
        _check_data(project, rows)
        job = TrainingJob(project=project, mode=mode, created_by=created_by, snapshot=rows)
        job.full_clean(exclude=["created_by", "model_version"])
        job.save()
        job_dispatch(job)
    return job


def training_job_cancel(*, job: TrainingJob) -> TrainingJob:
    """A queued job is cancelled at once; a running one is asked to stop and ends
    "cancelled" at its next check; a finished one cannot be cancelled (400)."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job.pk)
        now = timezone.now()
        if job.status == TrainingJob.Status.QUEUED:
            # (A queued job may hold the checkpoint of an attempt whose worker died.)
            name, job.checkpoint = job.checkpoint, ""
            job.status = TrainingJob.Status.CANCELLED
            job.cancel_requested = True
            job.finished_at = now
            job.save(
                update_fields=[
                    "status",
                    "cancel_requested",
                    "finished_at",
                    "checkpoint",
                    "updated_at",
                ]
            )
            transaction.on_commit(lambda: checkpoint_delete(name=name))
        elif job.status == TrainingJob.Status.RUNNING:
            job.cancel_requested = True
            job.save(update_fields=["cancel_requested", "updated_at"])
        else:
            raise ApplicationError(
                f"This training job has already finished ({job.status}); there is nothing to "
                "cancel.",
                code="job_finished",
            )
    return job


def _log_line(job: TrainingJob, text: str) -> str:
    """The job's log with one more timestamped line (plain words, never a traceback)."""
    line = f"{timezone.now().isoformat(timespec='seconds')}: {text}\n"
    return (job.log + line)[-LOG_LIMIT:]


def training_job_on_lost(job: TrainingJob, retrying: bool) -> dict[str, Any]:
    """The job machine's hook for an attempt taken for dead (``JobKind.on_lost``): note it in
    the log; a job whose cancel was asked for ends cancelled; a retried one starts its bar
    again (and resumes from its checkpoint); a job that ends drops its checkpoint."""
    fields: dict[str, Any] = {
        "log": _log_line(
            job,
            f"attempt {job.attempts} on {job.worker or '?'} stopped sending heartbeats "
            "(its worker died or hung).",
        )
    }
    if job.cancel_requested:
        fields["status"] = TrainingJob.Status.CANCELLED
    elif retrying:
        fields.update(stage="", progress=0.0)
    if fields.get("status") == TrainingJob.Status.CANCELLED or not retrying:
        name = job.checkpoint
        fields["checkpoint"] = ""
        transaction.on_commit(lambda: checkpoint_delete(name=name))
    return fields


def training_job_announce_ended(job_id: int) -> None:
    """Send ``on_training_finished`` for a job the reaper ended (``JobKind.on_ended``), as
    ``training_job_run`` does for one that ended while running."""
    ended = TrainingJob.objects.filter(pk=job_id, status__in=TrainingJob.FINISHED).first()
    if ended is not None:
        on_training_finished.send(job=ended)


# --- Running a job -------------------------------------------------------------------------


def _failure_message(exc: BaseException) -> str:
    """What went wrong, in words the user can act on (never a traceback)."""
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, MemoryError) or exc.__class__.__name__ == "OutOfMemoryError":
        return (
            "Training ran out of memory. Try quick mode, or train on a machine with more "
            "memory. Nothing in your data set was changed."
        )
    if isinstance(exc, SoftTimeLimitExceeded):
        return "Training took longer than the time limit and was stopped."
    detail = " ".join(str(exc).split())[:300] or exc.__class__.__name__
    return f"Training failed: {detail}"


def _training_parameters(job: TrainingJob, result: Any) -> dict[str, Any]:
    """Every parameter the runner trained ``job`` with: its specs' fields (built as the
    runner builds them), the penalty its cross-validation chose and the grid it chose from,
    how it held images out for validation, and where it ran."""
    regularisation = result.metrics.get("regularisation") or {}
    chosen = {"l2": regularisation["l2"]} if "l2" in regularisation else {}
    parameters = ml.training_parameters(
        mode=job.mode, backbone=result.backbone, labels=result.labels, quick=chosen
    )
    if not chosen:
        # Fine-tuning's starting head: its penalty is chosen by the same cross-validation,
        # which the fine-tuning metrics do not report.
        parameters["quick.l2"] = "cross-validated"
    parameters["quick.l2_grid"] = list(ml.L2_GRID)
    if regularisation.get("folds"):
        parameters["quick.cv_folds"] = regularisation["folds"]
    if job.mode == TrainingJob.Mode.FINETUNE:
        parameters["holdout_fraction"] = HOLDOUT_FRACTION
    if result.metrics.get("device"):
        parameters["device"] = result.metrics["device"]
    return parameters


def _model_version_record(job: TrainingJob, result: Any) -> ModelVersion | None:
    """Store the artifacts and the ModelVersion, and mark the job succeeded: one short
    transaction. None when the job is no longer this attempt's (reaped meanwhile)."""
    saved: list[str] = []
    try:
        with transaction.atomic():
            current = (
                TrainingJob.objects.select_for_update()
                .filter(pk=job.pk, status=TrainingJob.Status.RUNNING, attempts=job.attempts)
                .first()
            )
            if current is None:
                return None
            # The project row lock makes "next number" safe under concurrency.
            Project.objects.select_for_update().filter(pk=job.project_id).first()
            number = (
                ModelVersion.objects.filter(project_id=job.project_id).aggregate(n=Max("number"))[
                    "n"
                ]
                or 0
            ) + 1
            folder = f"{project_storage_prefix(job.project_id)}models/{number}"
            files: dict[str, str] = {}
            for field, filename, data in result.files:
                files[field] = default_storage.save(f"{folder}/{filename}", ContentFile(data))
                saved.append(files[field])
            version = ModelVersion.objects.create(
                project_id=job.project_id,
                number=number,
                backbone=result.backbone,
                mode=job.mode,
                labels=list(result.labels),
                snapshot=current.snapshot,
                data_hash=ml.snapshot_hash(current.snapshot),
                parameters=_training_parameters(job, result),
                metrics=result.metrics,
                training_job=current,
                **files,
            )
            job_finish(
                job,
                status=TrainingJob.Status.SUCCEEDED,
                progress=1.0,
                stage="done",
                metrics=result.metrics,
                model_version=version,
                checkpoint="",
            )
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise
    return version


def _attempt(job: TrainingJob) -> tuple[Any, dict[str, Any]]:
    """Train under a monitor. Returns (result, {}) or (None, the outcome to record)."""
    monitor = JobMonitor(job)
    monitor.start()
    try:
        return train(job, monitor), {}
    except ml.TrainCancelled:
        return None, {"status": TrainingJob.Status.CANCELLED}
    except BaseException as exc:
        if not isinstance(exc, Exception | SoftTimeLimitExceeded):
            raise  # KeyboardInterrupt / SystemExit: the worker is going away; the reaper retries.
        # The traceback stays on the server; the user reads a sentence.
        logger.exception("training job %s (attempt %s) failed", job.pk, job.attempts)
        message = _failure_message(exc)
        return None, {
            "status": TrainingJob.Status.FAILED,
            "error": message,
            "log": _log_line(job, f"attempt {job.attempts} failed: {message}"),
        }
    finally:
        monitor.stop()


def training_job_run(*, job_id: int) -> TrainingJob | None:
    """Run a queued training job (the Celery task's body). Safe to call twice: a job that
    is not queued is left alone. Returns the job as it ended, or None if it was not run."""
    job = job_claim(TrainingJob, job_id, related=("project",), progress=0.0, stage="", metrics={})
    if job is None:
        logger.info("training job %s is not queued; nothing to do", job_id)
        return None
    result, outcome = _attempt(job)
    if result is not None:
        try:
            version = _model_version_record(job, result)
        except Exception:
            logger.exception("training job %s: saving the model failed", job.pk)
            message = "The trained model could not be saved. Try training again."
            outcome = {
                "status": TrainingJob.Status.FAILED,
                "error": message,
                "log": _log_line(job, f"attempt {job.attempts} failed: {message}"),
            }
        else:
            if version is not None:
                # The new version's data health report and its INT8 copy (committed: the
                # version is saved).
                health_after_training(project_id=job.project_id)
                compression_after_training(version=version)
    if outcome:
        # A no-op when the job was taken from this attempt meanwhile (reaped).
        job_finish(job, checkpoint="", **outcome)
    # Whatever the outcome, this attempt's checkpoint is no longer needed, unless the job
    # was taken from it and another attempt may resume from it.
    ended = TrainingJob.objects.filter(pk=job.pk).first()
    if ended is None or ended.status in TrainingJob.FINISHED:
        checkpoint_delete(name=job.checkpoint)
    if ended is not None and ended.status in TrainingJob.FINISHED:
        on_training_finished.send(job=ended)
    # None if the project (and so the job) was deleted while it ran.
    return ended
