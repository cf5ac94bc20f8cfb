"""A deployment's monitoring, for its project's owner (others get 404): the figures over a
window with the drift state, the drift thresholds, the alerts (acknowledge), and a drift
check on demand."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError, validated
from apps.deployments.models import PredictionLog
from apps.deployments.selectors import deployment_get_for_user
from apps.monitoring.models import DriftAlert
from apps.monitoring.selectors import (
    DEFAULT_WINDOW,
    WINDOWS,
    drift_alert_get,
    drift_alert_list,
    drift_alert_samples,
    drift_state,
    monitoring_settings_for,
    monitoring_summary,
)
from apps.monitoring.services import (
    drift_alert_acknowledge,
    drift_check,
    monitoring_settings_update,
)

DRIFT_STATUSES = ["ok", "warning", "alert"]


def _image_url(request: Request, prediction: PredictionLog) -> str | None:
    from django.core.files.storage import default_storage

    if not prediction.image.name:
        return None
    url = default_storage.url(prediction.image.name)
    return request.build_absolute_uri(url) if url.startswith("/") else url


class PercentilesSerializer(serializers.Serializer):
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)
    p99 = serializers.FloatField(allow_null=True)


class FiguresSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    requests_per_minute = serializers.FloatField()
    latency_ms = PercentilesSerializer()
    failed_requests = serializers.IntegerField(
        help_text="Prediction requests that failed (an unreadable image, a server error); "
        "refusals (wrong key, rate limit) are not counted."
    )
    error_rate = serializers.FloatField(allow_null=True)
    uncertain_rate = serializers.FloatField(allow_null=True)
    ood_rate = serializers.FloatField(allow_null=True)


class BucketSerializer(FiguresSerializer):
    start = serializers.DateTimeField()
    labels = serializers.DictField(
        child=serializers.IntegerField(), help_text="Predictions per predicted label."
    )


class DriftTestSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=["mean_shift", "mmd", "ks", "confidence", "label_mix"])
    score = serializers.FloatField()
    p_value = serializers.FloatField()
    n = serializers.IntegerField()


class DriftSampleSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uid")
    # A field named like Field.label, as in every answer with a predicted label.
    label = serializers.CharField()  # type: ignore[assignment]
    confidence = serializers.FloatField()
    created_at = serializers.DateTimeField()
    image_url = serializers.SerializerMethodField()

    def get_image_url(self, prediction: PredictionLog) -> str | None:
        return _image_url(self.context["request"], prediction)


class DriftStateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DRIFT_STATUSES)
    score = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    window = serializers.IntegerField(help_text="Predictions the last check looked at.")
    since = serializers.DateTimeField(allow_null=True, help_text="Its first prediction's time.")
    checked_at = serializers.DateTimeField(allow_null=True)
    tests = DriftTestSerializer(many=True)
    alert = serializers.IntegerField(allow_null=True, help_text="The open alert, if any.")
    samples = DriftSampleSerializer(
        many=True, help_text="The open alert's predictions farthest from the training images."
    )


class MonitoringSerializer(serializers.Serializer):
    window = serializers.ChoiceField(choices=list(WINDOWS))
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    bucket_seconds = serializers.IntegerField()
    sampled = serializers.BooleanField(
        help_text="The window held more predictions than are read; figures are of the latest."
    )
    totals = FiguresSerializer()
    label_mix = serializers.DictField(child=serializers.FloatField())
    training_mix = serializers.DictField(child=serializers.FloatField())
    buckets = BucketSerializer(many=True)
    drift = DriftStateSerializer()


class MonitoringSettingsSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    window = serializers.IntegerField(help_text="Predictions each drift check looks at.")
    alert_p = serializers.FloatField(help_text="A drift p-value under this raises an alert.")
    warning_p = serializers.FloatField(help_text="A drift p-value under this is a warning.")


class MonitoringSettingsInputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    window = serializers.IntegerField(required=False)
    alert_p = serializers.FloatField(required=False)
    warning_p = serializers.FloatField(required=False)


class DriftAlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DriftAlert.Status.choices)
    score = serializers.FloatField()
    p_value = serializers.FloatField()
    window = serializers.IntegerField()
    since = serializers.DateTimeField()
    model_version_number = serializers.IntegerField(
        source="model_version.number", allow_null=True, default=None
    )
    tests = DriftTestSerializer(many=True)
    sample_prediction_ids = serializers.ListField(
        child=serializers.CharField(), source="sample_prediction_uids"
    )
    acknowledged = serializers.BooleanField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def _drift_payload(request: Request, state: dict[str, Any]) -> dict[str, Any]:
    return DriftStateSerializer(state, context={"request": request}).data


class MonitoringApi(APIView):
    """The deployment's figures over ``?window=`` (1h, 6h, 24h, 7d or 30d; default 24h),
    per time bucket and in all, with the last drift check."""

    @extend_schema(
        parameters=[OpenApiParameter("window", str, enum=list(WINDOWS), required=False)],
        responses=MonitoringSerializer,
    )
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        window = request.query_params.get("window", DEFAULT_WINDOW)
        if window not in WINDOWS:
            raise ApplicationError(
                f"Unknown window {window!r}; choose one of {', '.join(WINDOWS)}.",
                code="invalid_window",
            )
        summary = monitoring_summary(deployment=deployment, window=window)
        return Response(MonitoringSerializer(summary, context={"request": request}).data)


class MonitoringSettingsApi(APIView):
    """The deployment's drift thresholds; PATCH changes any of them."""

    @extend_schema(responses=MonitoringSettingsSerializer)
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        found = monitoring_settings_for(deployment=deployment)
        return Response(MonitoringSettingsSerializer(found).data)

    @extend_schema(
        request=MonitoringSettingsInputSerializer, responses=MonitoringSettingsSerializer
    )
    def patch(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        values = validated(MonitoringSettingsInputSerializer(data=request.data))
        found = monitoring_settings_update(deployment=deployment, changes=dict(values))
        return Response(MonitoringSettingsSerializer(found).data)


class DriftCheckApi(APIView):
    """Run the drift check now (as beat does every minute) and answer the drift state."""

    @extend_schema(request=None, responses=DriftStateSerializer)
    def post(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        drift_check(deployment_id=deployment.pk)
        return Response(_drift_payload(request, drift_state(deployment=deployment)))


class DriftAlertListApi(APIView):
    """The deployment's drift alerts, newest first (the latest 100)."""

    @extend_schema(responses=DriftAlertSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        alerts = drift_alert_list(deployment=deployment)[:100]
        return Response(DriftAlertSerializer(alerts, many=True).data)


class DriftAlertAcknowledgeApi(APIView):
    """Mark an alert seen; a later drift opens a new one."""

    @extend_schema(request=None, responses=DriftAlertSerializer)
    def post(self, request: Request, slug: str, alert_id: int) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        alert = drift_alert_get(deployment=deployment, alert_id=alert_id)
        if alert is None:
            raise ApplicationError("Alert not found.", code="not_found", status_code=404)
        alert = drift_alert_acknowledge(alert=alert, user=request.user)
        return Response(DriftAlertSerializer(alert).data)


class DriftAlertSamplesApi(APIView):
    """The alert's sample predictions (images of the shifted window)."""

    @extend_schema(responses=DriftSampleSerializer(many=True))
    def get(self, request: Request, slug: str, alert_id: int) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        alert = drift_alert_get(deployment=deployment, alert_id=alert_id)
        if alert is None:
            raise ApplicationError("Alert not found.", code="not_found", status_code=404)
        samples = drift_alert_samples(alert=alert)
        return Response(
            DriftSampleSerializer(samples, many=True, context={"request": request}).data
        )
