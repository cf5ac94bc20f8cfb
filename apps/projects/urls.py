from django.urls import path

from apps.projects import apis

urlpatterns = [
    path("projects/", apis.ProjectListApi.as_view(), name="project-list"),
    path("projects/<int:project_id>/", apis.ProjectDetailApi.as_view(), name="project-detail"),
    path("projects/<int:project_id>/labels/", apis.LabelListApi.as_view(), name="project-labels"),
    path(
        "projects/<int:project_id>/labels/<int:label_id>/",
        apis.LabelDetailApi.as_view(),
        name="project-label-detail",
    ),
]
