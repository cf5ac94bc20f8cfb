from django.urls import path

from apps.datasets import apis

urlpatterns = [
    path("projects/<int:project_id>/images/", apis.ImageListApi.as_view(), name="project-images"),
    path("projects/<int:project_id>/stats/", apis.DatasetStatsApi.as_view(), name="project-stats"),
    path(
        "projects/<int:project_id>/imports/",
        apis.ImportListApi.as_view(),
        name="project-imports",
    ),
    path(
        "projects/<int:project_id>/metadata/",
        apis.ImageMetadataApi.as_view(),
        name="project-metadata",
    ),
    path("imports/<int:job_id>/", apis.ImportDetailApi.as_view(), name="import-detail"),
    path("imports/<int:job_id>/retry/", apis.ImportRetryApi.as_view(), name="import-retry"),
]
