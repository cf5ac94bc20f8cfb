"""The periodic retraining check (CELERY_BEAT_SCHEDULE). Safe to run twice: a policy that
just triggered is not due again (its clock restarts at the trigger), and a project that is
already training is skipped."""

from celery import shared_task


@shared_task(name="retraining.check_policies", soft_time_limit=120, time_limit=180)
def check_policies() -> int:
    from apps.retraining.services import retrain_policies_check

    return retrain_policies_check()
