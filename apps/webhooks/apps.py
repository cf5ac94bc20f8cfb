from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed HTTP callbacks for a project's events. The top of the dependency order
    (core <- ... <- deployments <- webhooks): lower apps announce what happened through
    apps.core.hooks, and this app listens."""

    name = "apps.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core.hooks import on_deployment_changed, on_training_finished
        from apps.core.jobs import JobKind, register
        from apps.webhooks.events import deployment_changed_emit, training_finished_emit
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
