"""Where a fine-tuning job keeps its latest checkpoint between attempts.

``apps.ml.fit_finetune`` hands out a complete checkpoint (bytes) after every epoch. It is
stored in ``default_storage`` under the project's prefix (workers may run on other
machines, so never in a local folder), one file per epoch, and its name is recorded on the
job row through the fenced heartbeat: an attempt that lost the job cannot point the row at
its file. The previous file is then deleted. A retried attempt reads the recorded file and
resumes after that epoch; when the job ends, whatever its outcome, the file is deleted.
"""

from __future__ import annotations

import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.core.jobs import job_heartbeat
from apps.core.storage import project_storage_prefix
from apps.training.models import TrainingJob

logger = logging.getLogger(__name__)


def checkpoint_folder(job: TrainingJob) -> str:
    return f"{project_storage_prefix(job.project_id)}training-jobs/{job.pk}"


def checkpoint_load(job: TrainingJob) -> bytes | None:
    """The checkpoint an earlier attempt of ``job`` left, or None."""
    if not job.checkpoint:
        return None
    try:
        with default_storage.open(job.checkpoint, "rb") as handle:
            return handle.read()
    except OSError:
        logger.warning("training job %s: checkpoint %s is gone", job.pk, job.checkpoint)
        return None


def checkpoint_save(job: TrainingJob, *, epoch: int, data: bytes) -> bool:
    """Store the checkpoint written after ``epoch`` and record it on the row, if this
    attempt still holds the job. Returns whether it did (False: the attempt lost the job)."""
    previous = job.checkpoint
    name = default_storage.save(
        f"{checkpoint_folder(job)}/checkpoint-epoch-{epoch:04d}.pt", ContentFile(data)
    )
    if not job_heartbeat(job, checkpoint=name):
        default_storage.delete(name)
        return False
    job.checkpoint = name
    if previous and previous != name:
        _delete_quietly(previous)
    return True


def checkpoint_delete(*, name: str) -> None:
    """Delete a finished job's checkpoint file (the row's ``checkpoint`` is emptied by
    whoever finishes the job)."""
    if name:
        _delete_quietly(name)


def _delete_quietly(name: str) -> None:
    try:
        default_storage.delete(name)
    except OSError:
        # The project's whole prefix is deleted with the project; nothing else reads it.
        logger.warning("could not delete the training checkpoint %s", name, exc_info=True)
