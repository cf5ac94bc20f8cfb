"""Batch predictions: submit one to a deployment, follow it, download its results.

For the deployment's owner (signed in; others get 404), or with one of the deployment's API
keys (``Authorization: Api-Key <key>``, checked like the prediction API's: the key must be
valid, unrevoked and the deployment's own; the batch endpoints are not counted against the
deployment's rate limit, since one call submits many images on purpose).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.batches.models import BatchJob
from apps.batches.results import results_csv, results_json
from apps.batches.selectors import batch_deployment_slug, batch_get, batch_list
from apps.batches.services import batch_create
from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageNumberPagination
from apps.core.parsers import JSONParser
from apps.deployments.models import Deployment
from apps.deployments.selectors import deployment_get_for_user
from apps.deployments.serving.registry import registry

KEYWORD = "api-key"


@dataclass(frozen=True, slots=True)
class BatchKeyAuth:
    """``request.auth`` of a call made with a deployment's API key."""

    deployment_id: int


class BatchApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>`` for the batch endpoints; any other header is left
    to the usual session and token authentication."""

    def authenticate(self, request: Any) -> tuple[AnonymousUser, BatchKeyAuth] | None:
        keyword, _, key = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        if keyword.lower() != KEYWORD:
            return None
        kwargs = request.parser_context["kwargs"]
        slug = kwargs.get("slug")
        if slug is None:
            slug = batch_deployment_slug(batch_id=int(kwargs["batch_id"]))
            if slug is None:
                raise exceptions.NotFound("Batch not found.")
        registry.refresh()
        live = registry.deployment(slug)
        if live is None:
            raise exceptions.NotFound(f"There is no deployment called {slug!r}.")
        if not key.strip() or not registry.key_matches(live, key.strip()):
            raise exceptions.AuthenticationFailed(
                "This API key is not valid for this deployment (it may be wrong or revoked)."
            )
        return AnonymousUser(), BatchKeyAuth(deployment_id=live.id)

    def authenticate_header(self, request: Any) -> str:
        return "Api-Key"


class BatchApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = BatchApiKeyAuthentication
    name = "DeploymentApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Api-Key <key>: one of the deployment's API keys.",
        }


class OwnerOrDeploymentKey(BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        return isinstance(request.auth, BatchKeyAuth) or bool(
            getattr(request.user, "is_authenticated", False)
        )


def _deployment(request: Request, slug: str) -> Deployment:
    if isinstance(request.auth, BatchKeyAuth):
        deployment = (
            Deployment.objects.select_related("model_version", "project")
            .filter(pk=request.auth.deployment_id)
            .first()
        )
        if deployment is None:  # removed since the key was checked
            raise exceptions.NotFound("Deployment not found.")
        return deployment
    return deployment_get_for_user(user=request.user, slug=slug)


def _batch(request: Request, batch_id: int) -> BatchJob:
    if isinstance(request.auth, BatchKeyAuth):
        return batch_get(batch_id=batch_id, deployment_id=request.auth.deployment_id)
    return batch_get(batch_id=batch_id, user=request.user)


class _BatchView(APIView):
    # The key first; any other Authorization header goes on to the session and token.
    authentication_classes: list[Any] = [
        BatchApiKeyAuthentication,
        *api_settings.DEFAULT_AUTHENTICATION_CLASSES,
    ]
    permission_classes = [OwnerOrDeploymentKey]


class BatchOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=BatchJob.Status.choices)
    deployment = serializers.CharField(source="deployment.slug")
    kind = serializers.ChoiceField(choices=BatchJob.Kind.choices)
    archive_filename = serializers.CharField()
    total = serializers.IntegerField()
    done = serializers.IntegerField(help_text="Rows written so far (with or without an error).")
    failed = serializers.IntegerField(help_text="Rows with an error instead of a prediction.")
    progress = serializers.SerializerMethodField()
    error = serializers.CharField(help_text="Why the whole batch failed (empty otherwise).")
    model_version = serializers.IntegerField(source="model_version_id", allow_null=True)
    model_version_number = serializers.IntegerField()
    precision = serializers.ChoiceField(choices=Deployment.Precision.choices)
    threshold = serializers.FloatField()
    attempts = serializers.IntegerField()
    created = serializers.DateTimeField(source="created_at")
    started = serializers.DateTimeField(source="started_at", allow_null=True)
    finished = serializers.DateTimeField(source="finished_at", allow_null=True)
    url = serializers.SerializerMethodField()
    results_csv = serializers.SerializerMethodField()
    results_json = serializers.SerializerMethodField()

    def get_progress(self, batch: BatchJob) -> float:
        return round(batch.done / batch.total, 4) if batch.total else 0.0

    def _link(self, name: str, batch: BatchJob) -> str:
        path = reverse(name, kwargs={"batch_id": batch.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_url(self, batch: BatchJob) -> str:
        return self._link("batch-detail", batch)

    def get_results_csv(self, batch: BatchJob) -> str:
        return self._link("batch-results-csv", batch)

    def get_results_json(self, batch: BatchJob) -> str:
        return self._link("batch-results-json", batch)


_CREATE_REQUEST = {
    "multipart/form-data": inline_serializer(
        "BatchArchive",
        {"archive": serializers.FileField(help_text="A .zip of images (folders are ignored).")},
    ),
    "application/json": inline_serializer(
        "BatchUrls",
        {
            "urls": serializers.ListField(
                child=serializers.CharField(), help_text="Image addresses."
            )
        },
    ),
}


class BatchListApi(_BatchView):
    """GET: the deployment's batches, newest first (paginated). POST submits one and answers
    202 with it: multipart ``archive`` (a zip of images) or JSON ``{"urls": [...]}``. It runs
    in the background with the model version, precision and threshold the deployment has
    now; follow it at its ``url`` and download ``results_csv`` / ``results_json``."""

    parser_classes = [MultiPartParser, JSONParser]
    pagination_class = PageNumberPagination  # documents the paginated answer

    @extend_schema(responses=BatchOutputSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        deployment = _deployment(request, slug)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(batch_list(deployment=deployment), request, view=self)
        data = BatchOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=_CREATE_REQUEST, responses={202: BatchOutputSerializer})
    def post(self, request: Request, slug: str) -> Response:
        deployment = _deployment(request, slug)
        archive = request.FILES.get("archive")
        body = request.data if isinstance(request.data, Mapping) else {}
        urls = None if archive is not None else body.get("urls")
        if archive is None and urls is None:
            other_fields = sorted(request.FILES)
            got = f" The file field must be called 'archive'; got: {', '.join(other_fields)}."
            raise ApplicationError(
                'Send a zip file of images in "archive" (multipart) or a list of image '
                f'addresses in "urls" (JSON).{got if other_fields else ""}',
                code="nothing_to_predict",
            )
        batch = batch_create(
            deployment=deployment, created_by=request.user, archive=archive, urls=urls
        )
        data = BatchOutputSerializer(batch, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


class BatchDetailApi(_BatchView):
    """One batch: status, progress (``total``, ``done``, ``failed``), the model that
    answers, and links to its results."""

    @extend_schema(responses=BatchOutputSerializer)
    def get(self, request: Request, batch_id: int) -> Response:
        batch = _batch(request, batch_id)
        return Response(BatchOutputSerializer(batch, context={"request": request}).data)


def _download(body: Any, content_type: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class BatchResultsCsvApi(_BatchView):
    """The rows written so far (all of them once the batch succeeded), one per input in
    input order: index, name, label, confidence, uncertain, out_of_distribution, error."""

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)})
    def get(self, request: Request, batch_id: int) -> StreamingHttpResponse:
        batch = _batch(request, batch_id)
        return _download(
            results_csv(batch), "text/csv; charset=utf-8", f"batch-{batch.pk}-results.csv"
        )


# One input's row (``results.row_dict``); a failed row has only its ``error``. Inline: a
# serializer class cannot declare a field named ``label`` (Field.label is its title).
BATCH_RESULT_ROW = inline_serializer(
    "BatchResultRow",
    {
        "index": serializers.IntegerField(),
        "name": serializers.CharField(help_text="The archive member's name or the URL."),
        "label": serializers.CharField(allow_null=True),
        "confidence": serializers.FloatField(allow_null=True),
        "uncertain": serializers.BooleanField(allow_null=True),
        "out_of_distribution": serializers.BooleanField(allow_null=True),
        "error": serializers.CharField(allow_null=True),
    },
    many=True,
)


class BatchResultsSerializer(BatchOutputSerializer):
    results = BATCH_RESULT_ROW


class BatchResultsJsonApi(_BatchView):
    """The same rows as JSON: the batch (as ``GET /batches/{id}/``) with ``results``."""

    @extend_schema(responses=BatchResultsSerializer)
    def get(self, request: Request, batch_id: int) -> StreamingHttpResponse:
        batch = _batch(request, batch_id)
        header = dict(BatchOutputSerializer(batch, context={"request": request}).data)
        return _download(
            results_json(batch, header), "application/json", f"batch-{batch.pk}-results.json"
        )
