"""The prediction log of a deployment: list (newest first, uncertain first on request),
one prediction, and copying a prediction's image into the data set."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError, validated
from apps.core.pagination import PageNumberPagination
from apps.deployments.apis import LabelScoreSerializer
from apps.deployments.models import PredictionLog
from apps.deployments.selectors import deployment_get_for_user, prediction_get, prediction_list
from apps.deployments.services import prediction_add_to_dataset


def _row_wait() -> float:
    """How long to wait for a prediction's row that is still being written (a prediction
    answered a moment ago by another web process)."""
    return float(settings.PREDICTION_ROW_WAIT)


def _file_url(request: Request, name: str) -> str | None:
    from django.core.files.storage import default_storage

    if not name:
        return None
    url = default_storage.url(name)
    return request.build_absolute_uri(url) if url.startswith("/") else url


@extend_schema_field(LabelScoreSerializer(many=True))
class _ScoresField(serializers.JSONField):
    """Every label with its confidence, most likely first (stored as it was answered)."""


class PredictionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uid")
    created_at = serializers.DateTimeField()
    source = serializers.ChoiceField(choices=PredictionLog.Source.choices)
    label = serializers.CharField()
    confidence = serializers.FloatField(min_value=0.0, max_value=1.0)
    predictions = _ScoresField()
    # Under the deployment's current threshold (annotated by the selectors).
    uncertain = serializers.BooleanField(source="is_uncertain")
    out_of_distribution = serializers.BooleanField(allow_null=True)
    ood_score = serializers.FloatField(allow_null=True)
    latency_ms = serializers.FloatField()
    model_version = serializers.IntegerField(source="model_version_id")
    model_version_number = serializers.IntegerField(source="model_version.number")
    image_url = serializers.SerializerMethodField()
    added_image = serializers.IntegerField(source="added_image_id", allow_null=True)

    def get_image_url(self, prediction: PredictionLog) -> str | None:
        return _file_url(self.context["request"], prediction.image.name)


class AddToDatasetInputSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100)


class AddedToDatasetSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    label = serializers.CharField(allow_null=True)
    # False when the data set already had the image (nothing was copied twice).
    created = serializers.BooleanField()
    duplicate = serializers.BooleanField()
    prediction = serializers.UUIDField()


# --- The prediction log --------------------------------------------------------------------


class PredictionListApi(APIView):
    """The deployment's logged predictions, newest first, paginated. ``?uncertain=true``
    keeps the uncertain ones (``false``: the confident ones)."""

    pagination_class = PageNumberPagination  # documents the paginated answer

    @extend_schema(
        parameters=[OpenApiParameter("uncertain", bool, required=False)],
        responses=PredictionOutputSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        raw = request.query_params.get("uncertain")
        uncertain = None
        if raw not in (None, ""):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ApplicationError(
                    "uncertain: Use true or false.",
                    code="invalid_uncertain",
                    extra={"fields": {"uncertain": ["Use true or false."]}},
                )
            uncertain = raw.lower() in ("true", "1", "yes")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            prediction_list(deployment=deployment, uncertain=uncertain), request, view=self
        )
        data = PredictionOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class PredictionDetailApi(APIView):
    @extend_schema(responses=PredictionOutputSerializer)
    def get(self, request: Request, slug: str, prediction_id: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        prediction = prediction_get(
            deployment=deployment, prediction_id=prediction_id, wait=_row_wait()
        )
        return Response(PredictionOutputSerializer(prediction, context={"request": request}).data)


class PredictionAddToDatasetApi(APIView):
    """Copy the prediction's image into the project's data set with ``label``. 201 with the
    new image; 200 with the same image when it is already there (a repeat call, or an image
    the data set already had): never a second copy. 400 if the image was not stored."""

    @extend_schema(
        request=AddToDatasetInputSerializer,
        responses={201: AddedToDatasetSerializer, 200: AddedToDatasetSerializer},
    )
    def post(self, request: Request, slug: str, prediction_id: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        data = AddToDatasetInputSerializer(data=request.data)
        values = validated(data)
        prediction = prediction_get(
            deployment=deployment, prediction_id=prediction_id, wait=_row_wait()
        )
        image, created = prediction_add_to_dataset(
            prediction=prediction, label=values["label"], user=request.user
        )
        return Response(
            {
                "image": image.pk,
                "label": image.label.name if image.label_id else None,
                "created": created,
                "duplicate": not created,
                "prediction": str(prediction.uid),
            },
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
