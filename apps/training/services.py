"""Writes for training: embeddings, jobs, model versions.

A training job's life: ``training_job_create`` checks the data, freezes the labeled images
into the job's ``snapshot`` and queues the Celery task after the commit. The task calls
``training_job_run``, which claims the row (only a queued job starts), trains outside any
transaction through ``apps.ml`` (see ``apps.training.runner``) while a heartbeat thread
keeps the row alive and reads cancel requests, then records the outcome in one short
transaction. ``training_jobs_reap_stale`` (Celery beat) re-queues or fails jobs whose worker
died, so no job stays "running" for ever.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import close_old_connections, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.datasets.models import Image
from apps.projects.models import Label, Project
from apps.training.models import Embedding, ModelVersion, TrainingJob
from apps.training.selectors import ID_CHUNK, embedding_ids

logger = logging.getLogger(__name__)

# Images embedded per batch (bounded memory; one DB write per batch).
EMBED_BATCH = 32
# The live progress of a job is written at most this often (seconds).
PROGRESS_WRITE_INTERVAL = 0.25
MIN_LABELS = 2
MIN_IMAGES_PER_LABEL = 2

LOST_WORKER_ERROR = (
    "The worker running this job stopped unexpectedly (it was restarted, killed or ran out "
    "of memory), and the job was already retried. Nothing in your data set was changed; "
    "start training again."
)


# --- Embeddings --------------------------------------------------------------------------


def embeddings_schedule(*, image_ids: list[int]) -> None:
    """Queue the backbone embeddings of freshly stored images (after the commit), so that
    quick training later finds them cached. Called by the datasets services."""
    if not image_ids or not settings.EMBED_ON_INGEST:
        return
    from apps.training.tasks import compute_embeddings

    ids = list(image_ids)
    transaction.on_commit(lambda: compute_embeddings.delay(ids))


def image_open_normalized(name: str):
    """The stored normalised (RGB JPEG) file of an image, decoded."""
    from PIL import Image as PILImage

    with default_storage.open(name, "rb") as handle:
        image = PILImage.open(handle)
        image.load()
    return image if image.mode == "RGB" else image.convert("RGB")


def embeddings_compute(
    *,
    image_ids: Iterable[int],
    backbone: str | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    threads: int | None = None,
) -> int:
    """Compute and store the frozen-backbone embedding of each image that has none yet
    (for its project's backbone, or ``backbone``). Idempotent: existing rows are skipped,
    and a concurrent run computing the same image is harmless (the unique row wins).
    ``on_batch(done, total)`` follows progress. Returns how many rows were created."""
    from apps.ml.embedding import embed

    ids = list(dict.fromkeys(int(i) for i in image_ids))
    rows: list[tuple[int, str, str]] = []
    for start in range(0, len(ids), ID_CHUNK):
        rows += Image.objects.filter(id__in=ids[start : start + ID_CHUNK]).values_list(
            "id", "normalized", "project__backbone"
        )
    by_backbone: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for image_id, name, project_backbone in rows:
        by_backbone[backbone or project_backbone].append((image_id, name))

    todo: list[tuple[str, int, str]] = []
    for name_of_backbone, items in by_backbone.items():
        have = embedding_ids(image_ids=[i for i, _ in items], backbone=name_of_backbone)
        todo += [(name_of_backbone, i, n) for i, n in items if i not in have and n]
    total, done, created = len(todo), 0, 0
    if on_batch:
        on_batch(0, total)
    for start in range(0, total, EMBED_BATCH):
        if should_stop and should_stop():
            break
        batch = todo[start : start + EMBED_BATCH]
        readable: list[tuple[str, int]] = []
        images = []
        for name_of_backbone, image_id, file_name in batch:
            try:
                images.append(image_open_normalized(file_name))
            except (OSError, ValueError):
                # A file missing from storage must not stop the others; training reports
                # images without an embedding.
                logger.warning("embeddings: cannot read image %s (%s)", image_id, file_name)
                continue
            readable.append((name_of_backbone, image_id))
        groups: dict[str, list[int]] = defaultdict(list)
        for index, (name_of_backbone, _) in enumerate(readable):
            groups[name_of_backbone].append(index)
        new_rows: list[Embedding] = []
        for name_of_backbone, indexes in groups.items():
            vectors = embed(
                [images[i] for i in indexes],
                backbone=name_of_backbone,
                batch_size=EMBED_BATCH,
                threads=threads,
            )
            for i, vector in zip(indexes, vectors, strict=True):
                new_rows.append(
                    Embedding(
                        image_id=readable[i][1],
                        backbone=name_of_backbone,
                        vector=vector.astype("<f4").tobytes(),
                    )
                )
        # ignore_conflicts: the ingest task and a training job may race on the same image.
        Embedding.objects.bulk_create(new_rows, ignore_conflicts=True)
        created += len(new_rows)
        done += len(batch)
        if on_batch:
            on_batch(done, total)
    return created


# --- Creating, cancelling and reaping jobs -------------------------------------------------


def _dispatch(job_id: int) -> None:
    from apps.training.tasks import run_job

    transaction.on_commit(lambda: run_job.apply_async(args=[job_id]))


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


def training_job_create(
    *, project: Project, mode: str = TrainingJob.Mode.QUICK, created_by=None
) -> TrainingJob:
    """Check the project's data, freeze it into a new job and queue the job (after the
    commit, on the "training" queue). Answers 400 for data that cannot be trained on and
    409 while another job of the project is queued or running."""
    if mode not in TrainingJob.Mode.values:
        raise ApplicationError(
            f'Unknown training mode "{mode}". Choose "quick" or "finetune".', code="invalid_mode"
        )
    if project.task_type == Project.TaskType.MULTI_LABEL:
        raise ApplicationError(
            "Training is not supported for projects with several labels per image yet. "
            "Use a project with one label per image.",
            code="multi_label_unsupported",
        )
    from apps.ml.backbones import get_backbone

    try:
        get_backbone(project.backbone)
    except ValueError as exc:
        raise ApplicationError(str(exc), code="unknown_backbone") from exc

    from apps.datasets.services import images_assign_splits

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
        _dispatch(job.pk)
    return job


def training_job_cancel(*, job: TrainingJob) -> TrainingJob:
    """A queued job is cancelled at once; a running one is asked to stop and ends
    "cancelled" at its next check; a finished one cannot be cancelled (400)."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job.pk)
        now = timezone.now()
        if job.status == TrainingJob.Status.QUEUED:
            job.status = TrainingJob.Status.CANCELLED
            job.cancel_requested = True
            job.finished_at = now
            job.save(update_fields=["status", "cancel_requested", "finished_at", "updated_at"])
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


def training_jobs_reap_stale(*, stale_after: float) -> int:
    """Running jobs whose heartbeat is older than ``stale_after`` seconds lost their worker:
    each goes back to the queue (and is dispatched again) while it has attempts left,
    otherwise it fails with a plain-words error; one whose cancel was asked for ends
    cancelled. A re-delivered message of the old attempt is a no-op (the claim only starts
    queued jobs). Returns how many jobs were reaped."""
    cutoff = timezone.now() - timedelta(seconds=stale_after)
    stale = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    ids = list(
        TrainingJob.objects.filter(stale, status=TrainingJob.Status.RUNNING).values_list(
            "id", flat=True
        )
    )
    reaped = 0
    for job_id in ids:
        with transaction.atomic():
            job = (
                TrainingJob.objects.select_for_update()
                .filter(stale, pk=job_id, status=TrainingJob.Status.RUNNING)
                .first()
            )
            if job is None:  # it finished or beat meanwhile
                continue
            now = timezone.now()
            note = f"{now.isoformat()}: attempt {job.attempts} on {job.worker or '?'} stopped sending heartbeats.\n"
            job.log = (job.log + note)[-100_000:]
            job.worker = ""
            if job.cancel_requested:
                job.status = TrainingJob.Status.CANCELLED
                job.finished_at = now
            elif job.attempts < settings.JOB_MAX_ATTEMPTS:
                job.status = TrainingJob.Status.QUEUED
                job.stage = ""
                job.progress = 0.0
                _dispatch(job.pk)
            else:
                job.status = TrainingJob.Status.FAILED
                job.error = LOST_WORKER_ERROR
                job.finished_at = now
            job.save(
                update_fields=[
                    "status",
                    "stage",
                    "progress",
                    "error",
                    "log",
                    "worker",
                    "finished_at",
                    "updated_at",
                ]
            )
            reaped += 1
            logger.warning("training job %s reaped -> %s", job.pk, job.status)
    return reaped


# --- Running a job -------------------------------------------------------------------------


def _training_job_claim(job_id: int) -> TrainingJob | None:
    """Take a queued job for this worker; None if it is gone, running or finished (a
    re-delivered message must not run a job twice)."""
    with transaction.atomic():
        job = (
            TrainingJob.objects.select_for_update()
            .select_related("project")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.status != TrainingJob.Status.QUEUED:
            return None
        now = timezone.now()
        job.status = TrainingJob.Status.RUNNING
        job.attempts += 1
        job.worker = f"{socket.gethostname()}:{os.getpid()}"
        job.started_at = now
        job.heartbeat_at = now
        job.finished_at = None
        job.progress = 0.0
        job.stage = ""
        job.error = ""
        job.metrics = {}
        job.save(
            update_fields=[
                "status",
                "attempts",
                "worker",
                "started_at",
                "heartbeat_at",
                "finished_at",
                "progress",
                "stage",
                "error",
                "metrics",
                "updated_at",
            ]
        )
    return job


class JobMonitor:
    """The link between a running job and its row, for one attempt.

    The training code calls ``report`` (cheap: it only remembers the latest state) and
    ``should_stop`` (cheap: it reads a flag). A background thread writes the latest state
    at most every PROGRESS_WRITE_INTERVAL seconds, refreshes ``heartbeat_at`` every
    JOB_HEARTBEAT_SECONDS and, on each heartbeat, reads ``cancel_requested``. Every write is
    conditional on the row still being this attempt's: if the reaper gave the job to
    another worker, ``lost`` turns true and the training stops.

    Inside an open transaction (unit tests wrap each test in one) another thread's
    connection would not see the rows, so the same work is done inline instead.
    """

    def __init__(self, job: TrainingJob) -> None:
        self.job_id = job.pk
        self.attempt = job.attempts
        self.heartbeat = float(settings.JOB_HEARTBEAT_SECONDS)
        self.cancel_requested = bool(job.cancel_requested)
        self.lost = False
        self._state: dict[str, Any] = {}
        self._dirty = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_write = 0.0
        self._last_beat = time.monotonic()
        self._threaded = not connection.in_atomic_block
        self._thread: threading.Thread | None = None

    # Called by the training code --------------------------------------------------------
    def report(self, **fields: Any) -> None:
        """Remember the job's latest stage / progress / metrics for the next write."""
        with self._lock:
            self._state.update(fields)
            self._dirty = True
        if not self._threaded:
            self.tick()

    def should_stop(self) -> bool:
        if not self._threaded:
            self.tick()
        return self.cancel_requested or self.lost

    # Background work -------------------------------------------------------------------
    def start(self) -> None:
        if self._threaded:
            self._thread = threading.Thread(
                target=self._run, name=f"training-job-{self.job_id}-monitor", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is still pending."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.tick(force=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(PROGRESS_WRITE_INTERVAL):
                try:
                    self.tick()
                except Exception:  # noqa: BLE001 - a busy database must not kill the job
                    logger.warning("training job %s: heartbeat failed", self.job_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()

    def tick(self, *, force: bool = False) -> None:
        now = time.monotonic()
        beat_due = force or now - self._last_beat >= self.heartbeat
        with self._lock:
            write_due = self._dirty and (force or now - self._last_write >= PROGRESS_WRITE_INTERVAL)
            fields = dict(self._state) if write_due else {}
            if write_due:
                self._dirty = False
        if not (write_due or beat_due):
            return
        stamp = timezone.now()
        updated = TrainingJob.objects.filter(
            pk=self.job_id, status=TrainingJob.Status.RUNNING, attempts=self.attempt
        ).update(heartbeat_at=stamp, updated_at=stamp, **fields)
        self._last_write = now
        if not updated:
            self.lost = True
        if beat_due:
            self._last_beat = now
            self.cancel_requested = bool(
                TrainingJob.objects.filter(pk=self.job_id, cancel_requested=True).exists()
            )


def _failure_message(exc: BaseException) -> str:
    """What went wrong, in words the user can act on."""
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, MemoryError) or exc.__class__.__name__ == "OutOfMemoryError":
        return (
            "Training ran out of memory. Try quick mode, or train on a machine with more "
            "memory. Nothing in your data set was changed."
        )
    if isinstance(exc, SoftTimeLimitExceeded):
        return "Training took longer than the time limit and was stopped."
    detail = str(exc).strip() or exc.__class__.__name__
    return f"Training failed: {detail}"


def _finish(job: TrainingJob, attempt: int, **fields: Any) -> bool:
    """Close this attempt of the job (only if it still holds the job). Returns whether it did."""
    now = timezone.now()
    fields.setdefault("finished_at", now)
    return bool(
        TrainingJob.objects.filter(
            pk=job.pk, status=TrainingJob.Status.RUNNING, attempts=attempt
        ).update(heartbeat_at=now, updated_at=now, **fields)
    )


def _model_version_record(job: TrainingJob, attempt: int, result: Any) -> ModelVersion | None:
    """Store the artifacts and the ModelVersion, and mark the job succeeded: one short
    transaction. None when the job is no longer this attempt's (reaped meanwhile)."""
    saved: list[str] = []
    try:
        with transaction.atomic():
            current = (
                TrainingJob.objects.select_for_update()
                .filter(pk=job.pk, status=TrainingJob.Status.RUNNING, attempts=attempt)
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
            folder = f"projects/{job.project_id}/models/{number}"
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
                metrics=result.metrics,
                training_job=current,
                **files,
            )
            now = timezone.now()
            current.status = TrainingJob.Status.SUCCEEDED
            current.progress = 1.0
            current.stage = "done"
            current.metrics = result.metrics
            current.model_version = version
            current.finished_at = now
            current.heartbeat_at = now
            current.save(
                update_fields=[
                    "status",
                    "progress",
                    "stage",
                    "metrics",
                    "model_version",
                    "finished_at",
                    "heartbeat_at",
                    "updated_at",
                ]
            )
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise
    return version


def training_job_run(*, job_id: int) -> TrainingJob | None:
    """Run a queued training job (the Celery task's body). Safe to call twice: a job that
    is not queued is left alone. Returns the job as it ended, or None if it was not run."""
    job = _training_job_claim(job_id)
    if job is None:
        logger.info("training job %s is not queued; nothing to do", job_id)
        return None
    from apps.ml import TrainCancelled
    from apps.training.runner import train

    attempt = job.attempts
    monitor = JobMonitor(job)
    monitor.start()
    result = None
    outcome: dict[str, Any] = {}
    try:
        result = train(job, monitor)
    except TrainCancelled:
        outcome = {"status": TrainingJob.Status.CANCELLED}
    except BaseException as exc:  # noqa: BLE001 - the row must say what happened
        from celery.exceptions import SoftTimeLimitExceeded

        if not isinstance(exc, Exception | SoftTimeLimitExceeded):
            raise  # KeyboardInterrupt / SystemExit: the worker is going away; the reaper retries.
        logger.exception("training job %s failed", job.pk)
        outcome = {
            "status": TrainingJob.Status.FAILED,
            "error": _failure_message(exc),
            "log": traceback.format_exc()[-100_000:],
        }
    finally:
        monitor.stop()

    if result is not None:
        try:
            _model_version_record(job, attempt, result)
        except Exception as exc:  # noqa: BLE001
            logger.exception("training job %s: saving the model failed", job.pk)
            outcome = {
                "status": TrainingJob.Status.FAILED,
                "error": f"The trained model could not be saved: {exc}",
                "log": traceback.format_exc()[-100_000:],
            }
    if outcome:
        # A no-op when the job was taken from this attempt meanwhile (reaped).
        _finish(job, attempt, **outcome)
    # None if the project (and so the job) was deleted while it ran.
    return TrainingJob.objects.filter(pk=job.pk).first()
