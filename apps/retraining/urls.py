from django.urls import path

from apps.retraining import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/retraining/",
        apis.RetrainPolicyApi.as_view(),
        name="retrain-policy",
    ),
    path(
        "projects/<int:project_id>/retraining/run/",
        apis.RetrainRunApi.as_view(),
        name="retrain-run",
    ),
]
