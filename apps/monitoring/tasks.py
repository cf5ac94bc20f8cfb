"""The periodic drift check (CELERY_BEAT_SCHEDULE, every BAKEHOUSE_DRIFT_CHECK_INTERVAL
seconds). Safe to run twice: a window already checked is not checked again."""

from celery import shared_task


@shared_task(name="monitoring.check_drift", soft_time_limit=120, time_limit=180)
def check_drift(deployment_id: int | None = None) -> int:
    from apps.monitoring.services import drift_check, drift_check_all

    if deployment_id is None:
        return drift_check_all()
    drift_check(deployment_id=deployment_id)
    return 1
