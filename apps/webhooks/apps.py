from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed HTTP callbacks for a project's events. The top of the dependency order
    (core <- ... <- deployments <- webhooks): lower apps announce what happened through
    apps.core.hooks, and this app listens."""

    name = "apps.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core.hooks import (
            on_candidate_report,
            on_deployment_changed,
            on_training_finished,
        )
        from apps.core.jobs import JobKind, register
        from apps.webhooks.events import (
            candidate_report_emit,
            deployment_changed_emit,
            training_finished_emit,
        )
        from apps.webhooks.models import WebhookDelivery
        from apps.webhooks.services import LOST_DELIVERY_ERROR
        from apps.webhooks.tasks import deliver

        register(
            JobKind(
                model=WebhookDelivery,
                task=deliver,
                lost_message=LOST_DELIVERY_ERROR,
                max_attempts=settings.WEBHOOK_MAX_ATTEMPTS,
            )
        )
        on_training_finished.connect(training_finished_emit)
        on_deployment_changed.connect(deployment_changed_emit)
        on_candidate_report.connect(candidate_report_emit)

        from apps.core.hooks import on_batch_finished
        from apps.webhooks.events import batch_finished_emit

        on_batch_finished.connect(batch_finished_emit)

        from apps.core.hooks import on_drift_alert
        from apps.webhooks.events import drift_alert_emit

        on_drift_alert.connect(drift_alert_emit)
