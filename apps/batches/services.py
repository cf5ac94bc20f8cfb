"""Writes for batch predictions: submitting a batch, and running it on the job machine.

``batch_create`` checks what can be checked at once (a 400 with a sentence for a file that
is not a zip, too many images, bad addresses), freezes what answers (the deployment's model
version, precision and threshold), stores the archive in the media storage and dispatches
the job (``apps.core.jobs``). ``batch_job_run`` (the task's body) claims the job and writes
its rows in chunks, each chunk with the job's progress in one transaction fenced by the
attempt: a retried attempt (the worker died, the reaper re-queued the job) starts after the
last committed row, so no row is missing or written twice. Once the batch has ended,
``apps.core.hooks.on_batch_finished`` is sent (webhooks: batch.succeeded / batch.failed).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Count, Max, Q

from apps.batches.inputs import BatchInput, archive_check, archive_inputs, url_inputs, urls_check
from apps.batches.models import BatchItem, BatchJob
from apps.batches.predicting import RowResult, batch_model_load, predict_inputs
from apps.core.exceptions import ApplicationError
from apps.core.hooks import on_batch_finished
from apps.core.jobs import (
    job_claim,
    job_finish,
    job_heartbeat,
    job_heartbeats,
    job_submit,
)
from apps.core.storage import (
    project_storage_prefix,
    storage_files_delete_later,
)
from apps.datasets.ingest import filename_clean
from apps.deployments.models import Deployment
from apps.deployments.serving.registry import live_from_row

logger = logging.getLogger(__name__)

# Images per model call and per committed chunk of rows (the prediction API's batch size).
CHUNK = 32
BATCH_LOST_ERROR = (
    "The batch stopped unexpectedly (its worker was restarted or ran out of memory) and "
    "could not be resumed. The rows written so far are in its results."
)
TOO_LONG_ERROR = "The batch took too long and was stopped. The rows written so far are kept."


# --- Submitting ----------------------------------------------------------------------------


def batch_create(
    *,
    deployment: Deployment,
    created_by: Any = None,
    archive: Any = None,
    urls: Any = None,
) -> BatchJob:
    """Submit a batch: a zip ``archive`` (an uploaded file) or a list of ``urls``. Answers
    with the queued job. A job queue that does not answer is a 503 (the job is saved as
    failed)."""
    if (archive is None) == (urls is None):
        raise ApplicationError(
            'Send either a zip file in "archive" or a list of image addresses in "urls".',
            code="nothing_to_predict",
        )
    live = live_from_row(deployment)  # the live version and precision, not a canary
    job = BatchJob(
        deployment=deployment,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        model_version_id=live.model_version_id,
        model_version_number=live.model_version_number,
        precision=live.precision,
        threshold=live.threshold,
    )
    if archive is not None:
        job.kind = BatchJob.Kind.ZIP
        job.archive_filename = filename_clean(getattr(archive, "name", "") or "", fallback="batch")
        job.total = archive_check(archive, size=getattr(archive, "size", None))
        job.archive = default_storage.save(
            f"{project_storage_prefix(deployment.project_id)}batches/{uuid.uuid4().hex}.zip",
            archive,
        )
    else:
        job.kind = BatchJob.Kind.URLS
        job.urls = urls_check(urls)
        job.total = len(job.urls)
    # Whatever fails (the job queue not answering included: the row is then saved as
    # failed), a batch is not retried, so its archive must not stay behind.
    return job_submit(job, stored_files=[job.archive.name])


# --- Running -------------------------------------------------------------------------------


class _Lost(Exception):
    """This attempt no longer holds the job (reaped and handed to another)."""


def _inputs(job: BatchJob, start: int) -> Any:
    if job.kind == BatchJob.Kind.ZIP:
        if not job.archive:
            raise ApplicationError("The batch's archive is no longer stored.", code="upload_gone")
        return archive_inputs(str(job.archive.name), start=start)
    return url_inputs(list(job.urls), start=start)


def _write_chunk(job: BatchJob, rows: list[RowResult], done: int, failed: int) -> None:
    """The chunk's rows and the job's progress, in one transaction, if this attempt still
    holds the job. Rows already there (they cannot be, but a row is never written twice)
    are left alone."""
    with transaction.atomic():
        if not job_heartbeat(job, done=done, failed=failed):
            raise _Lost()
        BatchItem.objects.bulk_create(
            [
                BatchItem(
                    batch_id=job.pk,
                    index=row.index,
                    name=row.name[:2000],
                    label=row.label,
                    confidence=row.confidence,
                    uncertain=row.uncertain,
                    out_of_distribution=row.out_of_distribution,
                    error=row.error,
                )
                for row in rows
            ],
            ignore_conflicts=True,
        )


def _run(job: BatchJob) -> None:
    """Predict every input not written yet, chunk by chunk."""
    written = BatchItem.objects.filter(batch=job)
    # Chunks are committed whole and in order: the rows present are 0 .. last.
    last = written.aggregate(last=Max("index"))["last"]
    start = 0 if last is None else last + 1
    done = start
    failed = written.filter(~Q(error="")).count() if start else 0
    if start >= job.total:
        return
    if job.model_version is None:
        raise ApplicationError(
            f"Model version v{job.model_version_number} was deleted before the batch ran.",
            code="version_gone",
        )
    model = batch_model_load(
        version=job.model_version, precision=job.precision, threshold=job.threshold
    )
    # Beats from a thread too: a chunk of slow addresses can outlast the stale time.
    with job_heartbeats(job) as lost:
        chunk: list[BatchInput] = []
        for item in _inputs(job, start):
            chunk.append(item)
            if len(chunk) < CHUNK:
                continue
            done, failed = _flush(job, model, chunk, done, failed, lost)
            chunk = []
        if chunk:
            done, failed = _flush(job, model, chunk, done, failed, lost)
    if done != job.total:
        raise ApplicationError(
            f"The batch's input has {done} images, not {job.total} as when it was submitted.",
            code="input_changed",
        )


def _flush(
    job: BatchJob, model: Any, chunk: list[BatchInput], done: int, failed: int, lost: Any
) -> tuple[int, int]:
    if lost.is_set():
        raise _Lost()
    rows = predict_inputs(model, chunk)
    done += len(rows)
    failed += sum(1 for row in rows if row.error)
    _write_chunk(job, rows, done, failed)
    return done, failed


def batch_job_run(*, job_id: int) -> BatchJob | None:
    """Run a queued batch (the Celery task's body). Safe to call twice: only a queued job
    starts; a resumed one goes on after its last written row."""
    from celery.exceptions import SoftTimeLimitExceeded

    job = job_claim(BatchJob, job_id, related=("deployment", "model_version"))
    if job is None:
        logger.info("batch %s is not queued; nothing to do", job_id)
        return None
    started = time.perf_counter()
    error = ""
    try:
        _run(job)
    except _Lost:
        logger.warning("batch %s was taken from this attempt", job.pk)
        return job
    except SoftTimeLimitExceeded:
        error = TOO_LONG_ERROR
    except ApplicationError as exc:
        error = exc.message
    except Exception as exc:  # noqa: BLE001 - the job row must say it failed
        logger.exception("batch %s failed", job.pk)
        error = f"The batch failed unexpectedly ({exc.__class__.__name__})."
    counts = BatchItem.objects.filter(batch=job).aggregate(
        done=Count("pk"), failed=Count("pk", filter=~Q(error=""))
    )
    status = BatchJob.Status.FAILED if error else BatchJob.Status.SUCCEEDED
    with transaction.atomic():
        finished = job_finish(
            job,
            status=status,
            error=error,
            done=counts["done"],
            failed=counts["failed"],
        )
        if finished:
            _release_archive(job)
            transaction.on_commit(lambda: _announce(job.pk))
    logger.info("batch %s %s in %.1f s", job.pk, status, time.perf_counter() - started)
    job.refresh_from_db()
    return job


def _release_archive(job: BatchJob) -> None:
    if job.archive:
        storage_files_delete_later(names=[job.archive.name])
        BatchJob.objects.filter(pk=job.pk).update(archive="")


def _announce(job_id: int) -> None:
    """``on_batch_finished``, with the row as committed; a receiver's error is logged only
    (the batch has ended either way)."""
    job = BatchJob.objects.select_related("deployment__project").filter(pk=job_id).first()
    if job is None:
        return
    try:
        on_batch_finished.send(job=job)
    except Exception:  # noqa: BLE001
        logger.exception("a receiver of on_batch_finished failed for batch %s", job_id)


def batch_job_on_lost(job: BatchJob, retrying: bool) -> dict[str, Any]:
    """A running attempt was taken for dead. With no attempt left the batch fails: its
    archive goes and its end is announced (after the reaper's commit)."""
    if not retrying:
        _release_archive(job)
        job_id = job.pk
        transaction.on_commit(lambda: _announce(job_id))
    return {}
