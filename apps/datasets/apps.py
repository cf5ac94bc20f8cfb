from typing import Any

from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "apps.datasets"
    label = "datasets"

    def ready(self) -> None:
        from apps.core.jobs import JobKind, register
        from apps.datasets.imports import LOST_IMPORT_ERROR
        from apps.datasets.models import ImportJob
        from apps.datasets.tasks import run_import

        # A re-queued import goes on where its last committed batch ended.
        register(JobKind(model=ImportJob, task=run_import, lost_message=LOST_IMPORT_ERROR))
        register_project_figures()


def register_project_figures() -> None:
    """The project list's image counts (see projects.selectors)."""
    from django.db.models import OuterRef

    from apps.datasets.models import Image
    from apps.projects.selectors import count_subquery, project_list_annotation_register

    def images() -> Any:
        return Image.objects.filter(project_id=OuterRef("pk"))

    project_list_annotation_register("image_count", lambda: count_subquery(images()))
    project_list_annotation_register(
        "labeled_count", lambda: count_subquery(images().filter(label__isnull=False))
    )
