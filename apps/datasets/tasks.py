"""Background work for data sets. Tasks take ids, call one service, and are safe to run
twice: an import claims its row (only a queued job starts)."""

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
    from apps.datasets.services import import_job_run

    import_job_run(job_id=job_id)


@shared_task(name="datasets.delete_stored_files", soft_time_limit=600, time_limit=660)
def delete_stored_files(names: list[str]) -> None:
    from apps.datasets.services import storage_files_delete

    storage_files_delete(names=names)


@shared_task(name="datasets.delete_stored_prefix", soft_time_limit=3600, time_limit=3700)
def delete_stored_prefix(prefix: str) -> None:
    from apps.datasets.services import storage_prefix_delete

    storage_prefix_delete(prefix=prefix)


@shared_task(name="datasets.reap_stale_imports", soft_time_limit=60, time_limit=90)
def reap_stale_imports() -> int:
    from django.conf import settings

    from apps.datasets.services import import_jobs_reap_stale

    return import_jobs_reap_stale(stale_after=settings.JOB_STALE_AFTER)
