"""Deployments, their API keys, the prediction API and the prediction log.

Everything but the prediction API itself is for the project's owner (others get 404). The
prediction API (``POST /api/v1/predict/<slug>/``) takes ``Authorization: Api-Key <key>``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError, validated
from apps.core.pagination import PageNumberPagination
from apps.deployments.inputs import (
    OctetStreamParser,
    PredictJSONParser,
    RawImageParser,
    max_request_bytes,
    read_inputs,
)
from apps.deployments.models import Deployment, PredictionLog
from apps.deployments.selectors import (
    api_key_get,
    api_key_list,
    deployment_get_for_user,
    deployment_list,
    prediction_get,
    prediction_list,
)
from apps.deployments.services import (
    UNSET,
    api_key_create,
    api_key_revoke,
    deployment_create,
    deployment_delete,
    deployment_update,
    prediction_add_to_dataset,
    predictions_make,
)
from apps.deployments.serving import DeploymentApiKeyAuthentication, DeploymentRateThrottle
from apps.deployments.serving.registry import registry
from apps.projects.selectors import project_get_for_user
from apps.training.models import TrainingJob


def _row_wait() -> float:
    """How long to wait for a prediction's row that is still being written (a prediction
    answered a moment ago by another web process)."""
    return float(settings.PREDICTION_ROW_WAIT)


def _absolute(request: Request, path: str) -> str:
    return request.build_absolute_uri(path)


def _file_url(request: Request, name: str) -> str | None:
    from django.core.files.storage import default_storage

    if not name:
        return None
    url = default_storage.url(name)
    return request.build_absolute_uri(url) if url.startswith("/") else url


# --- Serializers ---------------------------------------------------------------------------


class ModelVersionSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=TrainingJob.Mode.choices)
    backbone = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    accuracy = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_accuracy(self, version: Any) -> float | None:
        accuracy = (version.metrics or {}).get("accuracy")
        return float(accuracy) if isinstance(accuracy, int | float) else None


class DeploymentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    project = serializers.IntegerField(source="project_id")
    predict_url = serializers.SerializerMethodField()
    try_url = serializers.SerializerMethodField()
    model_version = ModelVersionSummarySerializer()
    threshold = serializers.FloatField(min_value=0.0, max_value=1.0)
    store_images = serializers.BooleanField()
    rate_limit = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_predict_url(self, deployment: Deployment) -> str:
        path = reverse("deployment-predict", kwargs={"slug": deployment.slug})
        return _absolute(self.context["request"], path)

    def get_try_url(self, deployment: Deployment) -> str:
        path = reverse("deployment-try", kwargs={"slug": deployment.slug})
        return _absolute(self.context["request"], path)


@extend_schema_field(
    {
        "type": "number",
        "format": "double",
        "minimum": 0,
        "maximum": 1,
        "description": "Below this confidence a prediction is marked uncertain.",
    }
)
class _ThresholdField(serializers.FloatField):
    """Range checked by the service (invalid_threshold, with a sentence)."""


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 20,
        "pattern": r"^\d+/(sec|min|hour|day)$",
        "description": "At most N requests per second, minute, hour or day, e.g. 60/min.",
    }
)
class _RateLimitField(serializers.CharField):
    """Format checked by the service (invalid_rate_limit, with a sentence)."""


class DeploymentCreateSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    threshold = _ThresholdField(required=False)
    store_images = serializers.BooleanField(required=False)
    rate_limit = _RateLimitField(max_length=20, required=False)


class DeploymentUpdateSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    threshold = _ThresholdField(required=False)
    store_images = serializers.BooleanField(required=False)
    rate_limit = _RateLimitField(max_length=20, required=False)


class ApiKeyOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="prefix")
    name = serializers.CharField()
    prefix = serializers.CharField()
    created = serializers.DateTimeField()
    revoked = serializers.BooleanField()


class ApiKeyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)


class LabelScoreSerializer(serializers.Serializer):
    label = serializers.CharField()
    confidence = serializers.FloatField(min_value=0.0, max_value=1.0)


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


class PredictionAnswerSerializer(serializers.Serializer):
    """The answer for one image."""

    id = serializers.UUIDField(help_text="The prediction's id in the prediction log.")
    deployment = serializers.CharField()
    model_version = serializers.IntegerField()
    model_version_number = serializers.IntegerField()
    prediction = LabelScoreSerializer(help_text="The most likely label.")
    predictions = LabelScoreSerializer(many=True, help_text="Every label, most likely first.")
    uncertain = serializers.BooleanField()
    out_of_distribution = serializers.BooleanField(
        allow_null=True,
        help_text="The image lies farther from the model's training images than they lie "
        "from each other (null: a model trained before this was measured, or fine-tuned).",
    )
    ood_score = serializers.FloatField(
        allow_null=True,
        help_text="Mean cosine distance to the 5 nearest training images (higher: stranger).",
    )
    latency_ms = serializers.FloatField()


class PredictionBatchAnswerSerializer(serializers.Serializer):
    """The answer for several images (``images`` / ``images_base64``), in input order."""

    deployment = serializers.CharField()
    model_version = serializers.IntegerField()
    model_version_number = serializers.IntegerField()
    latency_ms = serializers.FloatField()
    results = PredictionAnswerSerializer(many=True)


_PREDICTION_SCHEMA = PolymorphicProxySerializer(
    component_name="PredictionResult",
    serializers=[PredictionAnswerSerializer, PredictionBatchAnswerSerializer],
    resource_type_field_name=None,
)

_PREDICTION_REQUEST = {
    "multipart/form-data": inline_serializer(
        "PredictionFiles",
        {
            "image": serializers.FileField(required=False, help_text="One image."),
            "images": serializers.ListField(
                child=serializers.FileField(), required=False, help_text="Several images."
            ),
        },
    ),
    "application/json": inline_serializer(
        "PredictionJson",
        {
            "image_base64": serializers.CharField(required=False),
            "images_base64": serializers.ListField(child=serializers.CharField(), required=False),
            "url": serializers.URLField(required=False),
        },
    ),
    "image/*": OpenApiTypes.BINARY,
    "application/octet-stream": OpenApiTypes.BINARY,
}


def _deployment_payload(request: Request, deployment: Deployment) -> dict[str, Any]:
    return DeploymentOutputSerializer(deployment, context={"request": request}).data


def _given(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: data[name] for name in names if name in data}


# --- Deployments ---------------------------------------------------------------------------


class DeploymentListApi(APIView):
    """The project's deployments (newest first, paginated); POST deploys a model version."""

    pagination_class = PageNumberPagination  # documents the paginated answer

    @extend_schema(responses=DeploymentOutputSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(deployment_list(project=project), request, view=self)
        data = DeploymentOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=DeploymentCreateSerializer, responses={201: DeploymentOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = DeploymentCreateSerializer(data=request.data)
        values = validated(data)
        deployment = deployment_create(
            project=project,
            model_version_id=values["model_version"],
            name=values.get("name", ""),
            created_by=request.user,
            threshold=values.get("threshold", UNSET),
            store_images=values.get("store_images", UNSET),
            rate_limit=values.get("rate_limit", UNSET),
        )
        deployment = deployment_get_for_user(user=request.user, slug=deployment.slug)
        return Response(_deployment_payload(request, deployment), status=status.HTTP_201_CREATED)


class DeploymentDetailApi(APIView):
    """One deployment. PATCH ``{"model_version": id}`` switches the live model (and rolls
    back); ``threshold``, ``store_images``, ``rate_limit`` ("N/sec|min|hour|day") and
    ``name`` can be changed too. DELETE stops it."""

    @extend_schema(responses=DeploymentOutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        return Response(_deployment_payload(request, deployment))

    @extend_schema(request=DeploymentUpdateSerializer, responses=DeploymentOutputSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        data = DeploymentUpdateSerializer(data=request.data)
        values = validated(data)
        changes = _given(values, "name", "threshold", "store_images", "rate_limit")
        if "model_version" in values:
            changes["model_version_id"] = values["model_version"]
        deployment_update(deployment=deployment, **changes)
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        return Response(_deployment_payload(request, deployment))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        deployment_delete(deployment=deployment)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- API keys ------------------------------------------------------------------------------


class ApiKeyListApi(APIView):
    """The deployment's API keys (a plain list: prefix, name, created, revoked). POST makes
    one; its ``key`` is in that answer only."""

    @extend_schema(responses=ApiKeyOutputSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        return Response(ApiKeyOutputSerializer(api_key_list(deployment=deployment), many=True).data)

    @extend_schema(
        request=ApiKeyInputSerializer,
        responses={
            201: inline_serializer(
                "NewApiKey",
                {
                    "id": serializers.CharField(),
                    "name": serializers.CharField(),
                    "prefix": serializers.CharField(),
                    "key": serializers.CharField(),
                    "created": serializers.DateTimeField(),
                    "revoked": serializers.BooleanField(),
                },
            )
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        data = ApiKeyInputSerializer(data=request.data)
        values = validated(data)
        api_key, key = api_key_create(deployment=deployment, name=values["name"])
        payload = dict(ApiKeyOutputSerializer(api_key).data)
        payload["key"] = key
        return Response(payload, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(APIView):
    """DELETE revokes the key (it stops working at once; the row stays, marked revoked)."""

    @extend_schema(responses=ApiKeyOutputSerializer)
    def get(self, request: Request, slug: str, key_id: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        return Response(
            ApiKeyOutputSerializer(api_key_get(deployment=deployment, key_id=key_id)).data
        )

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, key_id: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        api_key_revoke(api_key=api_key_get(deployment=deployment, key_id=key_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Predicting ----------------------------------------------------------------------------

_PREDICT_PARSERS = [MultiPartParser, PredictJSONParser, RawImageParser, OctetStreamParser]


class _PredictBase(APIView):
    parser_classes = _PREDICT_PARSERS
    renderer_classes = [JSONRenderer]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.started = time.perf_counter()
        return super().dispatch(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        _drain_unread_body(self.request)
        return response


def _drain_unread_body(request: Any) -> None:
    """Read what is left of a refused request's body (an error answered before the image
    was read: 401, 404, 429).

    gunicorn drains at most 64 KB of an unread body and then drops the keep-alive
    connection, so a client that sent a photo with a wrong key would see its *next* request
    on that connection fail. Read in chunks (memory stays flat) and only up to the request
    size limit: the body of a 413 is not read, that connection is better closed.
    """
    django_request = getattr(request, "_request", request)
    declared = django_request.META.get("CONTENT_LENGTH") or ""
    if not declared.isdigit() or int(declared) > max_request_bytes():
        return
    with contextlib.suppress(Exception):  # already read by a parser, or the client went away
        while django_request.read(256 * 1024):
            pass


class PredictApi(_PredictBase):
    """Classify images with the deployment's live model.

    ``Authorization: Api-Key <key>``. Body: multipart ``image`` (or ``images``, several),
    JSON ``{"image_base64": "..."}`` / ``{"images_base64": [...]}`` / ``{"url": "..."}``,
    or the image itself (``Content-Type: image/jpeg``). Answers ``{"id", "deployment",
    "model_version", "prediction": {"label", "confidence"}, "predictions": [...],
    "uncertain", "latency_ms"}``, or ``{"results": [...]}`` in input order for several.
    """

    authentication_classes = [DeploymentApiKeyAuthentication]
    permission_classes: list = []
    throttle_classes = [DeploymentRateThrottle]

    def throttled(self, request: Request, wait: float | None) -> None:
        live = request.auth.deployment
        raise exceptions.Throttled(
            wait=wait,
            detail=f"This deployment accepts at most {live.rate_limit} requests.",
        )

    @extend_schema(
        request=_PREDICTION_REQUEST,
        responses=_PREDICTION_SCHEMA,
        auth=[],
    )
    def post(self, request: Request, slug: str) -> Response:
        inputs = read_inputs(request)
        answer = predictions_make(
            live=request.auth.deployment,
            inputs=inputs,
            source=PredictionLog.Source.API,
            started=self.started,
        )
        return Response(answer)


class DeploymentTryApi(_PredictBase):
    """ "Try it" for the deployment's owner (signed in): the same body and answer as the
    prediction API, logged the same way, without an API key or the rate limit."""

    @extend_schema(
        request=_PREDICTION_REQUEST,
        responses=_PREDICTION_SCHEMA,
    )
    def post(self, request: Request, slug: str) -> Response:
        registry.refresh()
        live = registry.deployment(slug)
        if live is None or live.owner_id != request.user.pk:
            raise exceptions.NotFound("Deployment not found.")
        inputs = read_inputs(request)
        answer = predictions_make(
            live=live, inputs=inputs, source=PredictionLog.Source.TRY, started=self.started
        )
        return Response(answer)


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
