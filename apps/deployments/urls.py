from django.urls import path

from apps.deployments import apis, canary_apis, history_apis, prediction_log_apis

urlpatterns = [
    path(
        "projects/<int:project_id>/deployments/",
        apis.DeploymentListApi.as_view(),
        name="project-deployments",
    ),
    path("deployments/<slug:slug>/", apis.DeploymentDetailApi.as_view(), name="deployment-detail"),
    path(
        "deployments/<slug:slug>/history/",
        history_apis.DeploymentHistoryApi.as_view(),
        name="deployment-history",
    ),
    path(
        "deployments/<slug:slug>/rollback/",
        history_apis.DeploymentRollbackApi.as_view(),
        name="deployment-rollback",
    ),
    path(
        "deployments/<slug:slug>/candidate/",
        canary_apis.DeploymentCandidateApi.as_view(),
        name="deployment-candidate",
    ),
    path(
        "deployments/<slug:slug>/candidate/promote/",
        canary_apis.DeploymentCandidatePromoteApi.as_view(),
        name="deployment-candidate-promote",
    ),
    path(
        "deployments/<slug:slug>/candidate/disagreements/",
        canary_apis.ShadowDisagreementListApi.as_view(),
        name="deployment-candidate-disagreements",
    ),
    path(
        "deployments/<slug:slug>/candidate/disagreements/<str:result_id>/settle/",
        canary_apis.ShadowDisagreementSettleApi.as_view(),
        name="deployment-candidate-settle",
    ),
    path("deployments/<slug:slug>/keys/", apis.ApiKeyListApi.as_view(), name="deployment-keys"),
    path(
        "deployments/<slug:slug>/keys/<str:key_id>/",
        apis.ApiKeyDetailApi.as_view(),
        name="deployment-key-detail",
    ),
    path("deployments/<slug:slug>/try/", apis.DeploymentTryApi.as_view(), name="deployment-try"),
    path(
        "deployments/<slug:slug>/predictions/",
        prediction_log_apis.PredictionListApi.as_view(),
        name="deployment-predictions",
    ),
    path(
        "deployments/<slug:slug>/predictions/<str:prediction_id>/",
        prediction_log_apis.PredictionDetailApi.as_view(),
        name="deployment-prediction-detail",
    ),
    path(
        "deployments/<slug:slug>/predictions/<str:prediction_id>/add-to-dataset/",
        prediction_log_apis.PredictionAddToDatasetApi.as_view(),
        name="deployment-prediction-add",
    ),
]

# The prediction API, resolved before every other API route (bakehouse/urls.py): the one
# URL called at a high rate skips matching some sixty patterns on each request.
prediction_urlpatterns = [
    path("predict/<slug:slug>/", apis.PredictApi.as_view(), name="deployment-predict"),
]
