from django.urls import path

from apps.labeling import apis

urlpatterns = [
    path(
        "projects/<int:project_id>/images/<int:image_id>/",
        apis.ImageDetailApi.as_view(),
        name="project-image-detail",
    ),
    path(
        "projects/<int:project_id>/images/bulk-label/",
        apis.ImageBulkLabelApi.as_view(),
        name="project-images-bulk-label",
    ),
    path(
        "projects/<int:project_id>/images/bulk-delete/",
        apis.ImageBulkDeleteApi.as_view(),
        name="project-images-bulk-delete",
    ),
    path(
        "projects/<int:project_id>/images/<int:image_id>/history/",
        apis.ImageHistoryApi.as_view(),
        name="project-image-history",
    ),
]
