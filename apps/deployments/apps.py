from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "apps.deployments"
    label = "deployments"

    def ready(self) -> None:
        from apps.core.hooks import on_project_deleting
        from apps.core.selectors import stored_file_owner_register
        from apps.deployments.models import Deployment
        from apps.deployments.prediction_log import flush_on_sigterm
        from apps.deployments.services import deployments_project_deleting

        # A project's deployments go first when it is deleted (they protect their model
        # versions), and every web process stops answering for them at once.
        on_project_deleting.connect(deployments_project_deleting)
        # A server with no exit hook of its own still writes the queued prediction log when
        # it is told to stop (gunicorn replaces this handler and uses worker_exit).
        flush_on_sigterm()

        def owns(user: object, slug: str) -> bool:
            return Deployment.objects.filter(slug=slug, project__owner=user).exists()

        # The prediction log's images (predictions/<slug>/...) are the deployment owner's.
        stored_file_owner_register("predictions", owns)
