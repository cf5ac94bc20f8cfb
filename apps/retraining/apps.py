from django.apps import AppConfig


class RetrainingConfig(AppConfig):
    """A project's retraining policy: retrain when enough new labels arrived, on a drift
    alert, or on a schedule; the new model becomes each deployment's shadow candidate and is
    promoted only by the rollout gate. Above deployments in the dependency order: it listens
    to apps.core.hooks and calls training and deployments services."""

    name = "apps.retraining"
    label = "retraining"

    def ready(self) -> None:
        from apps.core.hooks import on_drift_alert, on_training_finished
        from apps.retraining.services import drift_alert_retrain, retrain_candidate_publish

        on_training_finished.connect(retrain_candidate_publish)
        on_drift_alert.connect(drift_alert_retrain)
