from django.apps import AppConfig


class BatchesConfig(AppConfig):
    """Batch predictions (above deployments: core <- ... <- deployments <- batches)."""

    name = "apps.batches"
    label = "batches"

    def ready(self) -> None:
        from apps.batches import tasks
        from apps.batches.models import BatchJob
        from apps.batches.services import BATCH_LOST_ERROR, batch_job_on_lost
        from apps.core.jobs import JobKind, register

        register(
            JobKind(
                model=BatchJob,
                task=tasks.run_batch,
                lost_message=BATCH_LOST_ERROR,
                on_lost=batch_job_on_lost,
            )
        )
