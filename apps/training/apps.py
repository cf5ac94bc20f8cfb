from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "apps.training"
    label = "training"

    def ready(self) -> None:
        from apps.core.hooks import on_images_created
        from apps.core.jobs import JobKind, register
        from apps.training import tasks
        from apps.training.compression_jobs import (
            COMPRESSION_LOST_ERROR,
            compression_job_on_lost,
        )
        from apps.training.embeddings import EMBEDDING_LOST_ERROR, embeddings_schedule
        from apps.training.health.compute import HEALTH_LOST_ERROR
        from apps.training.models import CompressionJob, EmbeddingJob, HealthJob, TrainingJob
        from apps.training.services import (
            LOST_WORKER_ERROR,
            training_job_announce_ended,
            training_job_on_lost,
        )

        register(
            JobKind(
                model=TrainingJob,
                task=tasks.run_job,
                lost_message=LOST_WORKER_ERROR,
                on_lost=training_job_on_lost,
                on_ended=training_job_announce_ended,
            )
        )
        register(
            JobKind(model=EmbeddingJob, task=tasks.embed_images, lost_message=EMBEDDING_LOST_ERROR)
        )
        register(JobKind(model=HealthJob, task=tasks.health_report, lost_message=HEALTH_LOST_ERROR))
        register(
            JobKind(
                model=CompressionJob,
                task=tasks.compress_model,
                lost_message=COMPRESSION_LOST_ERROR,
                on_lost=compression_job_on_lost,
            )
        )
        # Freshly stored images are embedded in the background, so that quick training
        # finds them cached.
        on_images_created.connect(embeddings_schedule)
        register_project_figures()


def register_project_figures() -> None:
    """The project list's accuracy of the newest model version (see projects.selectors)."""
    from django.db.models import FloatField, OuterRef, Subquery
    from django.db.models.fields.json import KeyTextTransform
    from django.db.models.functions import Cast

    from apps.projects.selectors import project_list_annotation_register
    from apps.training.models import ModelVersion

    def latest_accuracy() -> Subquery:
        newest = (
            ModelVersion.objects.filter(project_id=OuterRef("pk"))
            .order_by("-number")
            # ->> (text, SQL NULL for a JSON null) then a cast: works on SQLite and PostgreSQL.
            .annotate(accuracy=Cast(KeyTextTransform("accuracy", "metrics"), FloatField()))
            .values("accuracy")[:1]
        )
        return Subquery(newest, output_field=FloatField())

    project_list_annotation_register("latest_accuracy", latest_accuracy)
