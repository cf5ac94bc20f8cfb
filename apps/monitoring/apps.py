from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Per-deployment monitoring: traffic, latency, error, uncertain and out-of-distribution
    rates, the predicted label mix, and drift on the predictions' embeddings with alerts.
    Above deployments in the dependency order (it reads the prediction log); it announces
    alerts through apps.core.hooks.on_drift_alert, to which webhooks (and retraining)
    listen."""

    name = "apps.monitoring"
    label = "monitoring"
