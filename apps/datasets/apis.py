"""Images of a project (list, upload, detail), the data set statistics, and imports."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.core.files.storage import default_storage
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageNumberPagination
from apps.datasets.models import Image, ImportJob, Split
from apps.datasets.selectors import (
    dataset_stats,
    image_filter_clean,
    image_get,
    image_list,
    import_job_get_for_user,
    import_job_list,
)
from apps.datasets.services import (
    images_delete,
    images_upload,
    import_job_create,
    import_job_retry,
)
from apps.labeling.models import LabelEvent
from apps.labeling.services import UNSET, image_update
from apps.projects.selectors import project_get_for_user


def file_url(request: Request, name: str) -> str | None:
    """An absolute URL for a stored file (signed, on S3)."""
    if not name:
        return None
    url = default_storage.url(name)
    return request.build_absolute_uri(url) if url.startswith("/") else url


class ImageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField(source="original_filename")
    label = serializers.SerializerMethodField()
    label_id = serializers.IntegerField(allow_null=True)
    split = serializers.CharField()
    split_locked = serializers.BooleanField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.CharField()
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    source = serializers.CharField()
    source_url = serializers.CharField()
    created_at = serializers.DateTimeField()
    thumbnail_url = serializers.SerializerMethodField()
    file_url = serializers.SerializerMethodField()
    original_url = serializers.SerializerMethodField()

    def get_label(self, image: Image) -> str | None:
        return image.label.name if image.label_id else None

    def _url(self, name: str) -> str | None:
        return file_url(self.context["request"], name)

    def get_thumbnail_url(self, image: Image) -> str | None:
        return self._url(image.thumbnail.name)

    def get_file_url(self, image: Image) -> str | None:
        return self._url(image.normalized.name)

    def get_original_url(self, image: Image) -> str | None:
        return self._url(image.original.name)


REPORT_SCHEMA = inline_serializer(
    "IngestReport",
    {
        "created": serializers.ListField(child=serializers.DictField()),
        "duplicates": serializers.ListField(child=serializers.DictField()),
        "rejected": serializers.ListField(child=serializers.DictField()),
        "skipped": serializers.ListField(child=serializers.DictField()),
    },
)


class ImageListApi(APIView):
    """GET: the project's images, paginated (``page``, ``page_size`` up to 500), filtered by
    ``label`` (a name), ``unlabeled=true``, ``split`` (train, val, test, none) and ordered by
    ``ordering`` (-id, id, -created_at, created_at).

    POST (multipart): one or many ``files``, optional ``label`` (a name, created if missing)
    and ``split``. Answers 201 with a report of every file: ``created`` [{id, filename,
    sha256}], ``duplicates`` [{filename, existing_id}], ``rejected`` [{filename, error,
    code}], ``skipped``. It is 201 even when every file was rejected: the request itself
    worked, and the report says what happened to each file."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("label", str),
            OpenApiParameter("unlabeled", bool),
            OpenApiParameter("split", str, enum=[*Split.values, "none"]),
            OpenApiParameter("ordering", str),
        ],
        responses=ImageOutputSerializer(many=True),
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        images = image_list(
            project=project,
            filters=image_filter_clean(request.query_params),
            ordering=request.query_params.get("ordering") or "-id",
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(images, request, view=self)
        data = ImageOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "ImageUpload",
                {
                    "files": serializers.ListField(child=serializers.FileField()),
                    "label": serializers.CharField(required=False),
                    "split": serializers.ChoiceField(choices=Split.choices, required=False),
                },
            )
        },
        responses={201: REPORT_SCHEMA},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        try:
            files = request.FILES.getlist("files") or request.FILES.getlist("file")
        except TooManyFilesSent as exc:
            raise ApplicationError(
                "Too many files in one upload. Send them in smaller batches, or as a zip.",
                code="too_many_files",
            ) from exc
        except RequestDataTooBig as exc:
            raise ApplicationError(
                "The upload is too big. Send the files in smaller batches, or as a zip.",
                code="too_large",
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            ) from exc
        report = images_upload(
            project=project,
            files=files,
            uploaded_by=request.user,
            label=request.data.get("label") or None,
            split=request.data.get("split") or None,
        )
        return Response(report.as_dict(), status=status.HTTP_201_CREATED)


class ImageUpdateSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100, allow_null=True, allow_blank=True, required=False)
    split = serializers.ChoiceField(choices=Split.choices, allow_blank=True, required=False)
    source = serializers.ChoiceField(
        choices=[LabelEvent.Source.USER, LabelEvent.Source.SUGGESTION],
        required=False,
        default=LabelEvent.Source.USER,
    )


class ImageDetailApi(APIView):
    """One image. PATCH ``label`` (a name, created if missing; null clears) and/or ``split``
    (a split set here is locked: automatic assignment never moves it); ``source``
    "suggestion" records that the user accepted the model's suggestion. DELETE removes the
    image and, after the commit, its files."""

    @extend_schema(responses=ImageOutputSerializer)
    def get(self, request: Request, project_id: int, image_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        image = image_get(project=project, image_id=image_id)
        return Response(ImageOutputSerializer(image, context={"request": request}).data)

    @extend_schema(request=ImageUpdateSerializer, responses=ImageOutputSerializer)
    def patch(self, request: Request, project_id: int, image_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        image = image_get(project=project, image_id=image_id)
        data = ImageUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        image_update(
            image=image,
            label=values.get("label", UNSET),
            split=values.get("split", UNSET),
            actor=request.user,
            source=values["source"],
        )
        image = image_get(project=project, image_id=image_id)
        return Response(ImageOutputSerializer(image, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int, image_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        image = image_get(project=project, image_id=image_id)
        images_delete(project=project, images=Image.objects.filter(pk=image.pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DatasetStatsApi(APIView):
    """Counts per label, split and label x split, unlabeled, duplicates and rejected files,
    and ``warnings`` [{code, message}] to show before training."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(dataset_stats(project=project))


class ImportJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    kind = serializers.CharField()
    status = serializers.CharField()
    upload_filename = serializers.CharField()
    label = serializers.CharField()
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    progress = serializers.FloatField()
    error = serializers.CharField()
    attempts = serializers.IntegerField()
    counts = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)

    def get_counts(self, job: ImportJob) -> dict[str, int]:
        report = job.report or {}
        return {
            key: len(report.get(key, []))
            for key in ("created", "duplicates", "rejected", "skipped")
        }


class ImportJobDetailSerializer(ImportJobOutputSerializer):
    report = serializers.JSONField()


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(required=False)
    urls = serializers.ListField(child=serializers.JSONField(), required=False)
    csv = serializers.CharField(required=False, trim_whitespace=False)
    label = serializers.CharField(max_length=100, required=False, allow_blank=True)


class ImportListApi(APIView):
    """GET: the project's imports, newest first (paginated; counts only, the full report is
    on the import itself). POST starts one in the background and answers 202 with the
    import (``id``, ``status``...): a ``file`` (.zip whose folders are label names, with an
    optional train/val/test level; or .csv of ``url,label`` rows), or JSON ``{"urls": [...],
    "label": optional}``, or ``{"csv": "url,label\\n..."}``. Follow it at
    /api/v1/imports/{id}/."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(responses=ImportJobOutputSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(import_job_list(project=project), request, view=self)
        return paginator.get_paginated_response(ImportJobOutputSerializer(page, many=True).data)

    @extend_schema(request=ImportCreateSerializer, responses={202: ImportJobDetailSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = ImportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = data.validated_data
        job = import_job_create(
            project=project,
            created_by=request.user,
            upload=values.get("file"),
            urls=values.get("urls"),
            csv_text=values.get("csv"),
            label=values.get("label") or None,
        )
        job.refresh_from_db()
        return Response(ImportJobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetailApi(APIView):
    """Status, progress (processed of total) and the per-file report of one import."""

    @extend_schema(responses=ImportJobDetailSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = import_job_get_for_user(user=request.user, job_id=job_id)
        return Response(ImportJobDetailSerializer(job).data)


class ImportRetryApi(APIView):
    """Queue a failed import again; it goes on where it stopped."""

    @extend_schema(request=None, responses={202: ImportJobDetailSerializer})
    def post(self, request: Request, job_id: int) -> Response:
        job = import_job_get_for_user(user=request.user, job_id=job_id)
        job = import_job_retry(job=job)
        job.refresh_from_db()
        return Response(ImportJobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)
