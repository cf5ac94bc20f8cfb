from django.urls import path

from apps.core.system import SystemApi
from apps.core.views import HealthApi, HealthLiveApi

urlpatterns = [
    path("health/", HealthApi.as_view(), name="health"),
    path("health/ready/", HealthApi.as_view(), name="health-ready"),
    path("health/live/", HealthLiveApi.as_view(), name="health-live"),
    path("system/", SystemApi.as_view(), name="system"),
]
