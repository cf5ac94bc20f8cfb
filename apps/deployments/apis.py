"""Deployments, their API keys, the prediction API and the prediction log.

Everything but the prediction API itself is for the project's owner (others get 404). The
prediction API (``POST /api/v1/predict/<slug>/``) takes ``Authorization: Api-Key <key>``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
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

from apps.core.exceptions import validated
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
    deployment_candidate_get,
    deployment_get_for_user,
    deployment_list,
)
from apps.deployments.services import (
    UNSET,
    api_key_create,
    api_key_revoke,
    deployment_create,
    deployment_delete,
    deployment_update,
    predictions_make,
)
from apps.deployments.serving import DeploymentApiKeyAuthentication, DeploymentRateThrottle
from apps.deployments.serving.errors import prediction_error_count
from apps.deployments.serving.occupancy import occupancy
from apps.deployments.serving.registry import registry
from apps.projects.selectors import project_get_for_user
from apps.training.models import TrainingJob


def _absolute(request: Request, path: str) -> str:
    return request.build_absolute_uri(path)


# --- Serializers ---------------------------------------------------------------------------


class ModelVersionSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=TrainingJob.Mode.choices)
    backbone = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    accuracy = serializers.SerializerMethodField()
    precisions = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_accuracy(self, version: Any) -> float | None:
        accuracy = (version.metrics or {}).get("accuracy")
        return float(accuracy) if isinstance(accuracy, int | float) else None

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=Deployment.Precision.choices))
    )
    def get_precisions(self, version: Any) -> list[str]:
        """The precisions this version can be served in ("int8" once it has an int8 file)."""
        return ["fp32", "int8"] if version.int8_onnx_file.name else ["fp32"]


class CandidatePredictionsSerializer(serializers.Serializer):
    candidate = serializers.IntegerField()
    live = serializers.IntegerField()


class SettledSerializer(serializers.Serializer):
    live_right = serializers.IntegerField()
    candidate_right = serializers.IntegerField()
    neither_right = serializers.IntegerField()
    unsettled = serializers.IntegerField()


class GateCheckSerializer(serializers.Serializer):
    passed = serializers.BooleanField()
    detail = serializers.CharField()


class GateSerializer(serializers.Serializer):
    """The promotion gate of a shadow (``apps.deployments.shadow_gate``): where it stands
    and why."""

    enabled = serializers.BooleanField()
    state = serializers.ChoiceField(choices=["off", "waiting", "blocked", "ready", "promoted"])
    min_requests = serializers.IntegerField(allow_null=True)
    min_agreement = serializers.FloatField()
    reasons = serializers.ListField(child=serializers.CharField())
    checks = serializers.DictField(child=GateCheckSerializer())
    evaluated_at = serializers.CharField(required=False)
    promoted_version_number = serializers.IntegerField(required=False)


class CandidateSerializer(serializers.Serializer):
    """A rollout under way: a canary's version answers ``percent`` % of the requests; a
    shadow's runs beside the live version on every request and answers none."""

    mode = serializers.ChoiceField(choices=["canary", "shadow"])
    model_version = serializers.IntegerField()
    model_version_number = serializers.IntegerField()
    percent = serializers.IntegerField(min_value=1, max_value=99, allow_null=True)
    since = serializers.DateTimeField()
    predictions = CandidatePredictionsSerializer(
        help_text="Logged predictions each version gave since the rollout started."
    )
    requests = serializers.IntegerField(
        help_text="Requests the candidate answered (canary) or ran on (shadow)."
    )
    # A shadow's counts (apps.deployments.shadow_selectors).
    agreed = serializers.IntegerField(required=False)
    agreement = serializers.FloatField(required=False, allow_null=True)
    disagreements_count = serializers.IntegerField(required=False)
    settled = SettledSerializer(required=False)
    dropped = serializers.IntegerField(
        required=False, help_text="Requests the shadow skipped because its queue was full."
    )
    store_images = serializers.BooleanField(required=False)


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
    precision = serializers.ChoiceField(
        choices=Deployment.Precision.choices,
        help_text="Which of the version's graphs serves: fp32 (as trained) or int8.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    # The canary under way, if any (``apps.deployments.canary``).
    candidate = serializers.SerializerMethodField()
    # The promotion gate's decision when it promoted the last candidate (else null).
    last_gate = serializers.SerializerMethodField()

    @extend_schema_field(GateSerializer(allow_null=True))
    def get_last_gate(self, deployment: Deployment) -> dict[str, Any] | None:
        report = deployment.gate_report or {}
        return GateSerializer(report).data if report.get("state") == "promoted" else None

    @extend_schema_field(CandidateSerializer(allow_null=True))
    def get_candidate(self, deployment: Deployment) -> dict[str, Any] | None:
        state = deployment_candidate_get(deployment=deployment)
        return CandidateSerializer(state).data if state else None

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


class _PrecisionField(serializers.ChoiceField):
    """Documented as the choice it is; checked by the service (invalid_precision, with a
    sentence that says what each one means)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "help_text",
            'Serve the version as trained ("fp32", the default) or its quantized copy '
            '("int8": smaller and faster; only for versions that have one).',
        )
        super().__init__(choices=Deployment.Precision.choices, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        return data


class DeploymentCreateSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    threshold = _ThresholdField(required=False)
    store_images = serializers.BooleanField(required=False)
    rate_limit = _RateLimitField(max_length=20, required=False)
    precision = _PrecisionField(required=False)


class DeploymentUpdateSerializer(serializers.Serializer):
    model_version = serializers.IntegerField(required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    threshold = _ThresholdField(required=False)
    store_images = serializers.BooleanField(required=False)
    rate_limit = _RateLimitField(max_length=20, required=False)
    precision = _PrecisionField(required=False)


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
    precision = serializers.ChoiceField(
        choices=Deployment.Precision.choices, help_text="The graph that answered: fp32 or int8."
    )


class PredictionBatchAnswerSerializer(serializers.Serializer):
    """The answer for several images (``images`` / ``images_base64``), in input order."""

    deployment = serializers.CharField()
    model_version = serializers.IntegerField()
    model_version_number = serializers.IntegerField()
    precision = serializers.ChoiceField(choices=Deployment.Precision.choices)
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
            precision=values.get("precision", UNSET),
        )
        deployment = deployment_get_for_user(user=request.user, slug=deployment.slug)
        return Response(_deployment_payload(request, deployment), status=status.HTTP_201_CREATED)


class DeploymentDetailApi(APIView):
    """One deployment. PATCH ``{"model_version": id}`` switches the live model (and rolls
    back); ``precision`` ("fp32" | "int8") picks which of the version's graphs serves;
    ``threshold``, ``store_images``, ``rate_limit`` ("N/sec|min|hour|day") and ``name`` can
    be changed too. DELETE stops it."""

    @extend_schema(responses=DeploymentOutputSerializer)
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        return Response(_deployment_payload(request, deployment))

    @extend_schema(request=DeploymentUpdateSerializer, responses=DeploymentOutputSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        data = DeploymentUpdateSerializer(data=request.data)
        values = validated(data)
        changes = _given(values, "name", "threshold", "store_images", "rate_limit", "precision")
        if "model_version" in values:
            changes["model_version_id"] = values["model_version"]
        deployment_update(deployment=deployment, changed_by=request.user, **changes)
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
        # The request counts as being served from here (parsing, the key check, decoding,
        # the model, the answer): a model call takes every core only when no other
        # prediction request is anywhere in that path, not merely none between decoding
        # and the model's answer (README, Performance).
        with occupancy().running():
            return super().dispatch(request, *args, **kwargs)

    def handle_exception(self, exc: Exception) -> Response:
        # The monitoring page's error rate (before DRF re-raises a server error).
        prediction_error_count(
            slug=self.kwargs.get("slug", ""),
            status_code=int(getattr(exc, "status_code", 500)),
            now=time.time(),
        )
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
