from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "apps.projects"
    label = "projects"

    def ready(self) -> None:
        from apps.core.selectors import stored_file_owner_register
        from apps.core.storage import PROJECTS_FOLDER
        from apps.projects.models import Project

        def owns(user: object, key: str) -> bool:
            return key.isdigit() and Project.objects.filter(pk=int(key), owner=user).exists()

        stored_file_owner_register(PROJECTS_FOLDER, owns)
