from celery import shared_task


@shared_task(name="core.reap_stale_jobs", soft_time_limit=60, time_limit=90)
def reap_stale_jobs() -> int:
    """Jobs whose worker died (no heartbeat for JOB_STALE_AFTER s) are retried or failed,
    never stuck "running"; queued jobs whose message was lost are sent again. Every job
    kind registered with ``apps.core.jobs`` is covered. Run periodically by Celery beat."""
    from apps.core.jobs import jobs_reap

    return jobs_reap()


@shared_task(name="core.delete_stored_files", soft_time_limit=600, time_limit=660)
def delete_stored_files(names: list[str]) -> int:
    from apps.core.storage import storage_files_delete

    return storage_files_delete(names=names)


@shared_task(name="core.delete_stored_prefix", soft_time_limit=3600, time_limit=3700)
def delete_stored_prefix(prefix: str) -> int:
    from apps.core.storage import storage_prefix_delete

    return storage_prefix_delete(prefix=prefix)
