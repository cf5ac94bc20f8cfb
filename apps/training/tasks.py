"""Background work for training. Tasks take ids, call one service, and are safe to run
twice: each claims its job row on the job machine (only a queued job starts)."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from celery.signals import worker_process_init

logger = logging.getLogger(__name__)

# A fine-tuning run on a CPU-only machine with a large data set fits well within this; the
# broker's visibility timeout (4 h) is longer, so a running job's message is not handed
# out again while it runs.
TRAINING_SOFT_LIMIT = 3 * 3600
# One chunk of EMBED_JOB_CHUNK images takes seconds to a minute on one core.
EMBEDDING_SOFT_LIMIT = 15 * 60


@shared_task(
    name="training.embed_images",
    acks_late=True,
    soft_time_limit=EMBEDDING_SOFT_LIMIT,
    time_limit=EMBEDDING_SOFT_LIMIT + 60,
)
def embed_images(job_id: int) -> None:
    from apps.training.embeddings import embedding_job_run

    embedding_job_run(job_id=job_id)


@shared_task(
    name="training.run_job",
    acks_late=True,
    soft_time_limit=TRAINING_SOFT_LIMIT,
    time_limit=TRAINING_SOFT_LIMIT + 300,
)
def run_job(job_id: int) -> None:
    from apps.training.services import training_job_run

    training_job_run(job_id=job_id)


def _preload_ml() -> None:
    try:
        # torch, torchvision (training) and onnxruntime (embedding): the slow imports.
        from apps.ml import embed, fit_quick  # noqa: F401
        from apps.training import runner  # noqa: F401
    except Exception:  # noqa: BLE001 - the task itself will report a real problem
        logger.warning("could not preload the ML modules", exc_info=True)


@worker_process_init.connect
def _warm_up_worker_process(**_kwargs) -> None:
    # Importing torch takes seconds; a fresh worker process does it right away, in the
    # background, so the first quick training does not pay for it (its whole budget is
    # a few seconds). Not inline: Celery gives a new process only seconds to start.
    threading.Thread(target=_preload_ml, name="preload-ml", daemon=True).start()


# The analysis itself takes seconds for 10,000 cached embeddings; the rest of the budget is
# for embedding images that have none yet.
HEALTH_SOFT_LIMIT = 30 * 60


@shared_task(
    name="training.health_report",
    acks_late=True,
    soft_time_limit=HEALTH_SOFT_LIMIT,
    time_limit=HEALTH_SOFT_LIMIT + 60,
)
def health_report(job_id: int) -> None:
    from apps.training.health.compute import health_job_run

    health_job_run(job_id=job_id)


# Quantizing, calibrating and timing a model take seconds to a minute.
COMPRESSION_SOFT_LIMIT = 15 * 60


@shared_task(
    name="training.compress_model",
    acks_late=True,
    soft_time_limit=COMPRESSION_SOFT_LIMIT,
    time_limit=COMPRESSION_SOFT_LIMIT + 60,
)
def compress_model(job_id: int) -> None:
    from apps.training.compression_jobs import compression_job_run

    compression_job_run(job_id=job_id)
