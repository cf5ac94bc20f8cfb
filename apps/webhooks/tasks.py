"""Webhook deliveries, on the "webhooks" queue (CELERY_TASK_ROUTES). Safe to run twice: a
delivery claims its row (only a queued one is sent; see apps.core.jobs)."""

from celery import shared_task


@shared_task(name="webhooks.deliver", soft_time_limit=60, time_limit=90, acks_late=True)
def deliver(delivery_id: int) -> None:
    from apps.webhooks.services import delivery_run

    delivery_run(delivery_id=delivery_id)
