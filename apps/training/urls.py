from django.urls import path

from apps.training import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/training-jobs/",
        apis.ProjectTrainingJobListApi.as_view(),
        name="project-training-jobs",
    ),
    path("training-jobs/<int:job_id>/", apis.TrainingJobDetailApi.as_view(), name="training-job"),
    path(
        "training-jobs/<int:job_id>/cancel/",
        apis.TrainingJobCancelApi.as_view(),
        name="training-job-cancel",
    ),
    path(
        "projects/<int:project_id>/models/",
        apis.ProjectModelListApi.as_view(),
        name="project-models",
    ),
    path("models/<int:version_id>/", apis.ModelVersionDetailApi.as_view(), name="model-version"),
    path(
        "models/<int:version_id>/download/",
        apis.ModelVersionDownloadApi.as_view(),
        name="model-version-download",
    ),
]
