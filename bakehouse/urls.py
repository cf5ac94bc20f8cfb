from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from apps.core.exceptions import api_not_found
from apps.core.metrics import metrics_view
from apps.core.views import MediaFileApi, spa_index
from apps.deployments import urls as deployment_urls

api_v1 = [
    path("", include(deployment_urls.prediction_urlpatterns)),
    path("", include("apps.core.urls")),
    path("", include("apps.accounts.urls")),
    path("", include("apps.projects.urls")),
    path("", include("apps.datasets.urls")),
    path("", include("apps.labeling.urls")),
    path("", include("apps.training.urls")),
    path("", include("apps.deployments.urls")),
    path("", include("apps.monitoring.urls")),
    path("", include("apps.batches.urls")),
    path("", include("apps.webhooks.urls")),
    path("", include("apps.retraining.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    # Prometheus (apps.core.metrics): 404 unless BAKEHOUSE_METRICS_TOKEN is set.
    re_path(r"^metrics/?$", metrics_view, name="metrics"),
    # The split view's init script is a file of its own, so script-src 'self' allows it.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    path("admin/", admin.site.urls),
    # Any other path under /api/, whatever the method, is a JSON 404 (not a CSRF refusal:
    # nothing is done there).
    re_path(r"^api/", csrf_exempt(api_not_found)),
]

if settings.SERVE_MEDIA:
    # Media files are served by Django itself on the embedded stack (a self-hosted,
    # single-machine install), to their owner only; on S3 the storage hands out signed
    # URLs instead.
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", MediaFileApi.as_view(), name="media")]

# Everything else is the single-page app (client-side routing).
urlpatterns += [re_path(r"^(?!api/|admin/|media/|static/).*$", spa_index, name="spa")]

# Django's own error answers: JSON under /api/ (apps.core.exceptions), pages elsewhere.
handler400 = "apps.core.exceptions.handler400"
handler403 = "apps.core.exceptions.handler403"
handler404 = "apps.core.exceptions.handler404"
handler500 = "apps.core.exceptions.handler500"
