from django.urls import path

from apps.webhooks import apis

urlpatterns = [
    path("projects/<int:project_id>/webhooks/", apis.WebhookListApi.as_view(), name="webhook-list"),
    path(
        "projects/<int:project_id>/webhooks/<int:webhook_id>/",
        apis.WebhookDetailApi.as_view(),
        name="webhook-detail",
    ),
    path(
        "projects/<int:project_id>/webhooks/<int:webhook_id>/test/",
        apis.WebhookTestApi.as_view(),
        name="webhook-test",
    ),
    path(
        "projects/<int:project_id>/webhooks/<int:webhook_id>/deliveries/",
        apis.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
]
