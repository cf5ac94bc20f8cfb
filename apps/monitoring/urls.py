from django.urls import path

from apps.monitoring import apis

urlpatterns = [
    path(
        "deployments/<slug:slug>/monitoring/",
        apis.MonitoringApi.as_view(),
        name="deployment-monitoring",
    ),
    path(
        "deployments/<slug:slug>/monitoring/settings/",
        apis.MonitoringSettingsApi.as_view(),
        name="deployment-monitoring-settings",
    ),
    path(
        "deployments/<slug:slug>/monitoring/check/",
        apis.DriftCheckApi.as_view(),
        name="deployment-drift-check",
    ),
    path(
        "deployments/<slug:slug>/monitoring/alerts/",
        apis.DriftAlertListApi.as_view(),
        name="deployment-drift-alerts",
    ),
    path(
        "deployments/<slug:slug>/monitoring/alerts/<int:alert_id>/acknowledge/",
        apis.DriftAlertAcknowledgeApi.as_view(),
        name="deployment-drift-alert-acknowledge",
    ),
    path(
        "deployments/<slug:slug>/monitoring/alerts/<int:alert_id>/samples/",
        apis.DriftAlertSamplesApi.as_view(),
        name="deployment-drift-alert-samples",
    ),
]
