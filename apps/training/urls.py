from django.urls import path

from apps.training import apis, health_apis, insights_apis

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
    path(
        "projects/<int:project_id>/health/",
        health_apis.ProjectHealthApi.as_view(),
        name="project-health",
    ),
    path(
        "projects/<int:project_id>/health/dismiss/",
        health_apis.ProjectHealthDismissApi.as_view(),
        name="project-health-dismiss",
    ),
    path(
        "projects/<int:project_id>/suggestions/",
        health_apis.ProjectSuggestionsApi.as_view(),
        name="project-suggestions",
    ),
    path(
        "projects/<int:project_id>/map/",
        insights_apis.ProjectMapApi.as_view(),
        name="project-map",
    ),
    path(
        "projects/<int:project_id>/clusters/",
        insights_apis.ProjectClustersApi.as_view(),
        name="project-clusters",
    ),
    path(
        "projects/<int:project_id>/confusion/",
        insights_apis.ProjectConfusionApi.as_view(),
        name="project-confusion",
    ),
    path(
        "projects/<int:project_id>/learning-curve/",
        insights_apis.ProjectLearningCurveApi.as_view(),
        name="project-learning-curve",
    ),
    path(
        "projects/<int:project_id>/slices/",
        insights_apis.ProjectSlicesApi.as_view(),
        name="project-slices",
    ),
]
