"""The INT8 copy of a model version, made by its own job on the one job machine once the
version is saved.

Quantizing, calibrating and timing (``apps.training.compression``) take about ten seconds
of fixed work on two cores: inside the training job they would delay every model by that
much, and a fast-mode model is otherwise ready in under a second. Until the job ends, the
version's ``metrics["int8"]`` says ``{"status": "compressing"}`` and a deployment cannot
choose int8 (the deployment answers with a message saying so).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from apps.core.jobs import job_claim, job_dispatch, job_finish, job_heartbeats
from apps.training.compression import compress_int8
from apps.training.models import CompressionJob, ModelVersion, TrainingJob
from apps.training.runner import image_files, snapshot_partition

logger = logging.getLogger(__name__)

COMPRESSION_LOST_ERROR = (
    "The worker making the INT8 copy of this model stopped. The fp32 model is unaffected."
)
# What metrics["int8"] holds while the job has not ended.
PENDING = {"status": "compressing"}


def compression_after_training(*, version: ModelVersion) -> CompressionJob | None:
    """Queue the INT8 copy of a freshly saved version. Never fails the training it follows
    (a broker that does not answer only costs the int8 copy)."""
    try:
        with transaction.atomic():
            job, created = CompressionJob.objects.get_or_create(model_version=version)
            if created:
                ModelVersion.objects.filter(pk=version.pk).update(
                    metrics={**(version.metrics or {}), "int8": PENDING}
                )
                job_dispatch(job)
        return job
    except Exception:  # noqa: BLE001 - the fp32 model is saved; int8 is a bonus
        logger.warning("could not queue the int8 copy of version %s", version.pk, exc_info=True)
        ModelVersion.objects.filter(pk=version.pk).update(
            metrics={
                **(version.metrics or {}),
                "int8": {"error": "The INT8 copy could not be queued (the broker did not answer)."},
            }
        )
        return None


def compression_job_on_lost(job: CompressionJob, retrying: bool) -> dict[str, Any]:
    """A running attempt was taken for dead. When no attempt is left, the version must stop
    saying "compressing"."""
    if not retrying:
        version = ModelVersion.objects.filter(pk=job.model_version_id).first()
        if version is not None and not version.int8_onnx_file:
            ModelVersion.objects.filter(pk=version.pk).update(
                metrics={**(version.metrics or {}), "int8": {"error": COMPRESSION_LOST_ERROR}}
            )
    return {}


def compression_job_run(*, job_id: int) -> CompressionJob | None:
    """Make and store the INT8 copy (the Celery task's body). Safe to run twice: only a
    queued job starts, and a version that already has its copy keeps it."""
    job = job_claim(CompressionJob, job_id, related=("model_version",))
    if job is None:
        logger.info("compression job %s is not queued; nothing to do", job_id)
        return None
    version = job.model_version
    if version.int8_onnx_file:
        job_finish(job, status=CompressionJob.Status.SUCCEEDED)
        return job
    onnx_name = str(version.onnx_file.name)
    try:
        with default_storage.open(onnx_name, "rb") as handle:
            onnx_bytes = handle.read()
        snapshot = list(version.snapshot or [])
        kept = set(image_files([int(row["id"]) for row in snapshot]))
        labels = tuple(version.labels)
        rows = [row for row in snapshot if int(row["id"]) in kept and row["label"] in labels]
        # The images the version was trained and measured on, by the same rule as training.
        part = snapshot_partition(
            rows, labels, validation=version.mode == TrainingJob.Mode.FINETUNE
        )
        # One long library call (quantize, calibrate, evaluate, time): beaten for meanwhile.
        with job_heartbeats(job):
            result = compress_int8(
                onnx_bytes=onnx_bytes, backbone=version.backbone, labels=labels, part=part
            )
    except Exception:
        logger.exception("compression job %s failed", job.pk)
        result = None
    saved: list[str] = []
    try:
        with transaction.atomic():
            current = ModelVersion.objects.select_for_update().filter(pk=version.pk).first()
            if current is None:  # deleted meanwhile: nothing to store
                job_finish(job, status=CompressionJob.Status.SUCCEEDED)
                return job
            fields = {}
            if result is not None:
                folder = onnx_name.rsplit("/", 1)[0]
                for field, filename, data in result.files:
                    fields[field] = default_storage.save(f"{folder}/{filename}", ContentFile(data))
                    saved.append(fields[field])
                int8 = result.metrics
            else:
                int8 = {"error": "The INT8 copy could not be made. The fp32 model is unaffected."}
            if not job_finish(
                job,
                status=CompressionJob.Status.SUCCEEDED
                if result is not None
                else CompressionJob.Status.FAILED,
                error="" if result is not None else int8["error"],
            ):
                raise _Lost()
            ModelVersion.objects.filter(pk=version.pk).update(
                metrics={**(current.metrics or {}), "int8": int8}, **fields
            )
    except _Lost:
        for name in saved:
            default_storage.delete(name)
        logger.warning("compression job %s was taken from this attempt", job.pk)
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise
    return job


class _Lost(Exception):
    """This attempt no longer holds the job (reaped and handed to another)."""
