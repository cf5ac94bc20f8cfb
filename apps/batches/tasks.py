"""Background work for batch predictions. The task takes the job's id, calls one service,
and is safe to run twice (it claims its row on the job machine: only a queued job starts)."""

from __future__ import annotations

from celery import shared_task

# 10,000 small images take minutes on one core; this leaves room for large batches of slow
# addresses. Below the broker's visibility timeout (4 h), so a running batch's message is
# not handed out again while it runs.
BATCH_SOFT_LIMIT = 3 * 3600


@shared_task(
    name="batches.run_batch",
    acks_late=True,
    soft_time_limit=BATCH_SOFT_LIMIT,
    time_limit=BATCH_SOFT_LIMIT + 120,
)
def run_batch(job_id: int) -> None:
    from apps.batches.services import batch_job_run

    batch_job_run(job_id=job_id)
