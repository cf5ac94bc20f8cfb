"""Images of a project (list, upload, detail), the data set statistics, and imports."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFilesSent
from django.core.files.storage import default_storage
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageNumberPagination
from apps.datasets.imports import import_job_create, import_job_retry
from apps.datasets.ingest import images_upload
from apps.datasets.metadata import image_metadata_attach
from apps.datasets.models import Image, ImportJob, Split
from apps.datasets.selectors import (
    dataset_stats,
    image_filter_clean,
    image_list,
    image_metadata_columns,
    import_job_get_for_user,
    import_job_list,
)
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
    # "" while the image is in no split yet.
    split = serializers.ChoiceField(choices=Split.choices, allow_blank=True)
    split_locked = serializers.BooleanField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    format = serializers.CharField()
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    source = serializers.ChoiceField(choices=Image.Source.choices)
    source_url = serializers.CharField()
    created_at = serializers.DateTimeField()
    thumbnail_url = serializers.SerializerMethodField()
    file_url = serializers.SerializerMethodField()
    original_url = serializers.SerializerMethodField()
    # Columns attached from a CSV (POST /api/v1/projects/{id}/metadata/).
    metadata = serializers.DictField(child=serializers.CharField())

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


class ReportCreatedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    sha256 = serializers.CharField()


class ReportDuplicateSerializer(serializers.Serializer):
    filename = serializers.CharField()
    # The image the data set already has (null when it could not be found any more).
    existing_id = serializers.IntegerField(allow_null=True)


class ReportRejectedSerializer(serializers.Serializer):
    filename = serializers.CharField()
    error = serializers.CharField()
    code = serializers.CharField()


class ReportSkippedSerializer(serializers.Serializer):
    filename = serializers.CharField()
    reason = serializers.CharField()


class IngestReportSerializer(serializers.Serializer):
    created = ReportCreatedSerializer(many=True)
    duplicates = ReportDuplicateSerializer(many=True)
    rejected = ReportRejectedSerializer(many=True)
    skipped = ReportSkippedSerializer(many=True)


class ImportReportSerializer(serializers.Serializer):
    # Empty ({}) until the import has written its first rows.
    created = ReportCreatedSerializer(many=True, required=False)
    duplicates = ReportDuplicateSerializer(many=True, required=False)
    rejected = ReportRejectedSerializer(many=True, required=False)
    skipped = ReportSkippedSerializer(many=True, required=False)


IMAGE_ORDERINGS = ["-id", "id", "-created_at", "created_at"]


class ImageListApi(APIView):
    """GET: the project's images, paginated (``page``, ``page_size`` up to 500), filtered by
    ``label`` (a name), ``unlabeled=true``, ``split`` (train, val, test, none), ``filename``
    (part of the file name, any case) and ordered by
    ``ordering`` (-id, id, -created_at, created_at).

    POST (multipart): one or many ``files``, optional ``label`` (a name, created if missing)
    and ``split``. Answers 201 with a report of every file: ``created`` [{id, filename,
    sha256}], ``duplicates`` [{filename, existing_id}], ``rejected`` [{filename, error,
    code}], ``skipped``. It is 201 even when every file was rejected: the request itself
    worked, and the report says what happened to each file."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    pagination_class = PageNumberPagination  # documents the paginated answer

    @extend_schema(
        parameters=[
            OpenApiParameter("label", str, description="A label name."),
            OpenApiParameter("unlabeled", bool),
            OpenApiParameter(
                "split", str, enum=[*Split.values, "none"], description="none: in no split yet"
            ),
            OpenApiParameter("filename", str, description="Part of the file name (any case)."),
            OpenApiParameter(
                "meta.<column>",
                str,
                description="A metadata column's value, e.g. meta.camera=north (exact).",
            ),
            OpenApiParameter("ordering", str, enum=IMAGE_ORDERINGS),
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
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(images, request, view=self)
        data = ImageOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "ImageUpload",
                {
                    "files": serializers.ListField(child=serializers.FileField()),
                    "label": serializers.CharField(max_length=100, required=False),
                    "split": serializers.ChoiceField(choices=Split.choices, required=False),
                },
            )
        },
        responses={201: IngestReportSerializer},
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


class SplitCountsSerializer(serializers.Serializer):
    train = serializers.IntegerField()
    val = serializers.IntegerField()
    test = serializers.IntegerField()
    unassigned = serializers.IntegerField()


class LabelStatsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    count = serializers.IntegerField()
    splits = SplitCountsSerializer()


class DatasetWarningSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class DatasetStatsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    labeled = serializers.IntegerField()
    unlabeled = serializers.IntegerField()
    unlabeled_splits = SplitCountsSerializer()
    labels = LabelStatsSerializer(many=True)
    splits = SplitCountsSerializer()
    duplicates_rejected = serializers.IntegerField()
    rejected = serializers.IntegerField()
    warnings = DatasetWarningSerializer(many=True)


class DatasetStatsApi(APIView):
    """Counts per label, split and label x split, unlabeled, duplicates and rejected files,
    and ``warnings`` [{code, message}] to show before training."""

    @extend_schema(responses=DatasetStatsSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(dataset_stats(project=project))


class ImportJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    kind = serializers.ChoiceField(choices=ImportJob.Kind.choices)
    status = serializers.ChoiceField(choices=ImportJob.Status.choices)
    upload_filename = serializers.CharField()
    label = serializers.CharField()
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    progress = serializers.FloatField(min_value=0.0, max_value=1.0)
    error = serializers.CharField()
    attempts = serializers.IntegerField()
    counts = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(
        inline_serializer(
            "ImportCounts",
            {
                key: serializers.IntegerField()
                for key in ("created", "duplicates", "rejected", "skipped")
            },
        )
    )
    def get_counts(self, job: ImportJob) -> dict[str, int]:
        report = job.report or {}
        return {
            key: len(report.get(key, []))
            for key in ("created", "duplicates", "rejected", "skipped")
        }


@extend_schema_field(ImportReportSerializer)
class _ImportReportField(serializers.JSONField):
    """The stored report as it is: it can list many thousand files, too many to copy
    through serializers on every poll."""


class ImportJobDetailSerializer(ImportJobOutputSerializer):
    report = _ImportReportField()


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "An image address."},
            {
                "type": "object",
                "properties": {
                    "url": {"type": "string"},
                    "label": {"type": "string", "nullable": True},
                },
                "required": ["url"],
            },
        ]
    }
)
class _ImportUrlField(serializers.JSONField):
    """An address, or {url, label}: the service checks each one and says what is wrong."""


class ImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(required=False)
    urls = serializers.ListField(child=_ImportUrlField(), required=False)
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
    pagination_class = PageNumberPagination  # documents the paginated answer

    @extend_schema(responses=ImportJobOutputSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(import_job_list(project=project), request, view=self)
        return paginator.get_paginated_response(ImportJobOutputSerializer(page, many=True).data)

    @extend_schema(request=ImportCreateSerializer, responses={202: ImportJobDetailSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = ImportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = data.validated_data
        other_fields = sorted(set(request.FILES) - {"file"})
        if values.get("file") is None and other_fields:
            raise ApplicationError(
                "The file field must be called 'file' (a .zip or a .csv); got: "
                f"{', '.join(other_fields)}.",
                code="nothing_to_import",
            )
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


class MetadataReportSerializer(serializers.Serializer):
    # "filename" (first column) or "external_id" (a column of that name).
    matched_by = serializers.ChoiceField(choices=["filename", "external_id"])
    keys = serializers.ListField(child=serializers.CharField())
    rows = serializers.IntegerField()
    matched_rows = serializers.IntegerField()
    unmatched_rows = serializers.IntegerField()
    # The first unmatched file names (or ids), 50 at most.
    unmatched = serializers.ListField(child=serializers.CharField())
    images_updated = serializers.IntegerField()


class MetadataValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    count = serializers.IntegerField()


class MetadataColumnSerializer(serializers.Serializer):
    key = serializers.CharField()
    # Images with a value in this column.
    images = serializers.IntegerField()
    # The most frequent values first, 100 at most; truncated: the column has more.
    values = MetadataValueSerializer(many=True)
    truncated = serializers.BooleanField()


class MetadataColumnListSerializer(serializers.Serializer):
    columns = MetadataColumnSerializer(many=True)


class ImageMetadataApi(APIView):
    """POST (multipart) a CSV as ``file`` (5 MB at most): a header row, then one row per
    image. The first column is the file name (or, named ``external_id``, matches the
    ``external_id`` an earlier CSV attached); every other column becomes a metadata key of
    the matching images (an empty cell leaves the key as it was). Answers which rows matched.
    Filter the image list by ``meta.<column>=<value>``. GET: the columns attached so far,
    with their values (the filter's choices)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(responses=MetadataColumnListSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        columns = image_metadata_columns(project=project)
        return Response(MetadataColumnListSerializer({"columns": columns}).data)

    @extend_schema(
        request={
            "multipart/form-data": inline_serializer(
                "MetadataUpload", {"file": serializers.FileField()}
            )
        },
        responses=MetadataReportSerializer,
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        try:
            upload = request.FILES.get("file")
        except RequestDataTooBig as exc:
            raise ApplicationError(
                "The CSV is too big. Split it in parts.",
                code="too_large",
                status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            ) from exc
        report = image_metadata_attach(project=project, upload=upload)
        return Response(MetadataReportSerializer(report).data)
