"""The periodic check of the shadow rollouts' promotion gates (CELERY_BEAT_SCHEDULE). Safe
to run twice: each deployment's row is locked, and a second run finds the promoted
candidate gone."""

from celery import shared_task


@shared_task(name="deployments.shadow_gate_check", soft_time_limit=120, time_limit=180)
def shadow_gate_check() -> int:
    from apps.deployments.shadow_gate import shadow_gates_check

    return shadow_gates_check()
