"""Background work for training. Tasks take ids, call one service, and are safe to run
twice: a training job claims its row (only a queued job starts)."""

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


@shared_task(
    name="training.compute_embeddings",
    soft_time_limit=3600,
    time_limit=3700,
    acks_late=True,
)
def compute_embeddings(image_ids: list[int]) -> None:
    from apps.training.services import embeddings_compute

    embeddings_compute(image_ids=image_ids)


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
        import apps.ml  # noqa: F401 - torch, torchvision, onnxruntime
        import apps.training.runner  # noqa: F401
    except Exception:  # noqa: BLE001 - the task itself will report a real problem
        logger.warning("could not preload the ML modules", exc_info=True)


@worker_process_init.connect
def _warm_up_worker_process(**_kwargs) -> None:
    # Importing torch takes seconds; a fresh worker process does it right away, in the
    # background, so the first quick training does not pay for it (its whole budget is
    # a few seconds). Not inline: Celery gives a new process only seconds to start.
    threading.Thread(target=_preload_ml, name="preload-ml", daemon=True).start()
