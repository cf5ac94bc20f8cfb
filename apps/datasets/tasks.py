"""Background work for data sets. Tasks take ids, call one service, and are safe to run
twice: an import claims its row (only a queued job starts; see apps.core.jobs)."""

from celery import shared_task

# An import of the largest allowed archive takes well under this; the broker's
# visibility timeout (4 h) is longer, so a running job's message is not handed out again.
IMPORT_SOFT_LIMIT = 3 * 3600


@shared_task(
    name="datasets.run_import",
    soft_time_limit=IMPORT_SOFT_LIMIT,
    time_limit=IMPORT_SOFT_LIMIT + 120,
    acks_late=True,
)
def run_import(job_id: int) -> None:
    from apps.datasets.imports import import_job_run

    import_job_run(job_id=job_id)
