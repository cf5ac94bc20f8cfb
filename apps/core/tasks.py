from celery import shared_task
from django.conf import settings


@shared_task(name="core.reap_stale_jobs", soft_time_limit=60, time_limit=90)
def reap_stale_jobs() -> None:
    """Jobs whose worker died (no heartbeat for JOB_STALE_AFTER s) end failed or retried,
    never stuck "running". Run periodically by Celery beat."""
    from apps.datasets.services import import_jobs_reap_stale
    from apps.training.services import training_jobs_reap_stale

    training_jobs_reap_stale(stale_after=settings.JOB_STALE_AFTER)
    import_jobs_reap_stale(stale_after=settings.JOB_STALE_AFTER)
