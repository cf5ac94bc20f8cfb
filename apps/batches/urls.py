from django.urls import path

from apps.batches import apis

urlpatterns = [
    path(
        "deployments/<slug:slug>/batches/", apis.BatchListApi.as_view(), name="deployment-batches"
    ),
    path("batches/<int:batch_id>/", apis.BatchDetailApi.as_view(), name="batch-detail"),
    path(
        "batches/<int:batch_id>/results.csv",
        apis.BatchResultsCsvApi.as_view(),
        name="batch-results-csv",
    ),
    path(
        "batches/<int:batch_id>/results.json",
        apis.BatchResultsJsonApi.as_view(),
        name="batch-results-json",
    ),
]
