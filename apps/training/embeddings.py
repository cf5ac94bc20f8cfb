"""Writes for the cached frozen-backbone embeddings that quick training trains on.

Freshly stored images are embedded in the background: ``embeddings_schedule`` (connected to
``apps.core.hooks.images_created``) cuts their ids into chunks of ``EMBED_JOB_CHUNK``, one
``EmbeddingJob`` each, so that every free worker process takes a chunk. Each job runs on the
job machine (``apps.core.jobs``): claimed once, fenced heartbeats between batches, retried
after a lost worker up to ``JOB_MAX_ATTEMPTS``, then failed. A chunk is embedded with every
backbone the project's modes use (``selectors.ingest_backbones``: Lite2 too once the project
trains in accurate mode). Training computes whatever is
still missing itself (``embeddings_compute``), so a failed chunk only costs time.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from PIL import Image as PILImage

from apps import ml
from apps.core.jobs import job_claim, job_dispatch, job_finish, job_heartbeat
from apps.datasets.models import Image
from apps.training.models import Embedding, EmbeddingJob
from apps.training.selectors import ID_CHUNK, embedding_ids, ingest_backbones

logger = logging.getLogger(__name__)

# Images embedded per batch (bounded memory; one DB write per batch).
EMBED_BATCH = 32
# Images per background embedding job: small enough that an upload spreads over every
# worker process, large enough that a job's own cost (a claim, a few queries) is noise.
EMBED_JOB_CHUNK = 128
# ONNX Runtime threads per background embedding job: the parallelism comes from the worker
# processes, each taking a chunk; more threads per process would only compete for the cores.
EMBED_JOB_THREADS = 1

EMBEDDING_LOST_ERROR = (
    "The worker embedding these images stopped unexpectedly, and the job was already "
    "retried. Training computes the missing embeddings itself."
)
EMBEDDING_FAILED_ERROR = (
    "These images could not be embedded. Training computes the missing embeddings itself."
)


def image_open_normalized(name: str) -> PILImage.Image:
    """The stored normalised (RGB JPEG) file of an image, decoded."""
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
    ``on_batch(done, total)`` follows progress; ``should_stop()`` is asked before each
    batch. Returns how many rows were created."""
    todo = _missing(image_ids, backbone)
    total, done, created = len(todo), 0, 0
    if on_batch:
        on_batch(0, total)
    for start in range(0, total, EMBED_BATCH):
        if should_stop and should_stop():
            break
        batch = todo[start : start + EMBED_BATCH]
        new_rows = _embed_batch(batch, threads=threads)
        # ignore_conflicts: the ingest jobs and a training job may race on the same image.
        Embedding.objects.bulk_create(new_rows, ignore_conflicts=True)
        created += len(new_rows)
        done += len(batch)
        if on_batch:
            on_batch(done, total)
    return created


def _missing(image_ids: Iterable[int], backbone: str | None) -> list[tuple[str, int, str]]:
    """(backbone, image id, stored file) of the images without an embedding yet."""
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
    return todo


def _embed_batch(batch: list[tuple[str, int, str]], *, threads: int | None) -> list[Embedding]:
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
        vectors = ml.embed(
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
    return new_rows


# --- Background embedding jobs -------------------------------------------------------------


def embeddings_schedule(*, image_ids: Iterable[int], **_: Any) -> list[EmbeddingJob]:
    """Queue the embeddings of freshly stored images, one job per chunk of
    ``EMBED_JOB_CHUNK`` images (the messages leave after the commit). Does nothing when
    ``EMBED_ON_INGEST`` is off. Connected to ``apps.core.hooks.images_created``."""
    ids = list(dict.fromkeys(int(i) for i in image_ids))
    if not ids or not settings.EMBED_ON_INGEST:
        return []
    by_project: dict[int, list[int]] = defaultdict(list)
    for start in range(0, len(ids), ID_CHUNK):
        for image_id, project_id in Image.objects.filter(
            id__in=ids[start : start + ID_CHUNK]
        ).values_list("id", "project_id"):
            by_project[project_id].append(image_id)
    jobs = [
        EmbeddingJob(project_id=project_id, image_ids=sorted(chunk_ids)[i : i + EMBED_JOB_CHUNK])
        for project_id, chunk_ids in by_project.items()
        for i in range(0, len(chunk_ids), EMBED_JOB_CHUNK)
    ]
    with transaction.atomic():
        jobs = EmbeddingJob.objects.bulk_create(jobs)
        for job in jobs:
            job_dispatch(job)
    return jobs


def embedding_job_run(*, job_id: int) -> EmbeddingJob | None:
    """Embed one chunk (the Celery task's body). Safe to run twice: only a queued job is
    claimed. Returns the job as it ended, or None if it was not run."""
    job = job_claim(EmbeddingJob, job_id, embedded=0)
    if job is None:
        logger.info("embedding job %s is not queued; nothing to do", job_id)
        return None
    lost = False

    def beat(done: int, total: int) -> None:
        nonlocal lost
        lost = lost or not job_heartbeat(job)

    try:
        created = 0
        for backbone in ingest_backbones(project_id=job.project_id):
            created += embeddings_compute(
                image_ids=job.image_ids,
                backbone=backbone,
                on_batch=beat,
                should_stop=lambda: lost,
                threads=EMBED_JOB_THREADS,
            )
    except Exception:
        logger.exception("embedding job %s failed", job.pk)
        job_finish(job, status=EmbeddingJob.Status.FAILED, error=EMBEDDING_FAILED_ERROR)
        return job
    if lost:
        logger.warning("embedding job %s was taken from this attempt; stopping", job.pk)
        return job
    job_finish(job, status=EmbeddingJob.Status.SUCCEEDED, embedded=created)
    return job
