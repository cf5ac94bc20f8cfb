"""Training jobs (start, follow, cancel) and the model versions they produce (list, detail,
download). Only the project's owner sees them; for anyone else they answer 404."""

from __future__ import annotations

import posixpath

from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageNumberPagination
from apps.projects.selectors import project_get_for_user
from apps.training.bundle import model_bundle_build
from apps.training.compare_apis import ParametersField
from apps.training.health_apis import CvAccuracySerializer
from apps.training.models import ModelVersion, TrainingJob
from apps.training.selectors import (
    metrics_for_read,
    model_version_get_for_user,
    model_version_list,
    training_job_get_for_user,
    training_job_list,
    training_job_number,
)
from apps.training.services import training_job_cancel, training_job_create


class HistoryPointSerializer(serializers.Serializer):
    """One point of the live training curve (an epoch, or a step of a quick fit)."""

    epoch = serializers.IntegerField(required=False)
    step = serializers.IntegerField(required=False)
    loss = serializers.FloatField(required=False, allow_null=True)
    val_loss = serializers.FloatField(required=False, allow_null=True)
    train_accuracy = serializers.FloatField(required=False, allow_null=True)
    accuracy = serializers.FloatField(required=False, allow_null=True)
    val_accuracy = serializers.FloatField(required=False, allow_null=True)


class ClassMetricsSerializer(serializers.Serializer):
    precision = serializers.FloatField()
    recall = serializers.FloatField()
    f1 = serializers.FloatField()
    support = serializers.IntegerField()


class MisclassifiedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    true = serializers.CharField()
    predicted = serializers.CharField()
    confidence = serializers.FloatField()


class TargetSerializer(serializers.Serializer):
    metric = serializers.CharField()
    value = serializers.FloatField()
    achieved = serializers.FloatField(allow_null=True)
    reached = serializers.BooleanField()


class LinearProbeSerializer(serializers.Serializer):
    accuracy = serializers.FloatField(required=False, allow_null=True)
    macro_f1 = serializers.FloatField(required=False, allow_null=True)


class AccuracyIntervalSerializer(serializers.Serializer):
    """Accuracy with its 95 % (Wilson) interval and the number of test images behind it."""

    value = serializers.FloatField()
    low = serializers.FloatField()
    high = serializers.FloatField()
    images = serializers.IntegerField()
    # The interval is wider than 10 points: too few test images to tell reliably.
    too_few_images = serializers.BooleanField()


class RuntimeFiguresSerializer(serializers.Serializer):
    """One graph (fp32 or int8) measured on the held-out images and timed on one thread."""

    accuracy = serializers.FloatField(required=False)
    macro_f1 = serializers.FloatField(required=False)
    size_bytes = serializers.IntegerField(required=False)
    latency_ms = serializers.FloatField(required=False, help_text="Median, one image.")
    throughput_per_s = serializers.FloatField(
        required=False, help_text="Images per second in batches of 8, one core."
    )
    threads = serializers.IntegerField(required=False)


class Int8MetricsSerializer(RuntimeFiguresSerializer):
    """The quantized copy's figures, with the fp32 graph's measured beside them the same
    way; only ``error`` when quantization failed (the fp32 model serves regardless)."""

    fp32 = RuntimeFiguresSerializer(required=False)
    format = serializers.CharField(required=False)
    calibration_images = serializers.IntegerField(required=False)
    evaluated_images = serializers.IntegerField(required=False)
    # "held_out": the version's test images; "train": the training images, for a project
    # without test images (its own accuracy is then cross-validated).
    evaluated_on = serializers.ChoiceField(choices=["held_out", "train"], required=False)
    # Share of those images on which fp32 and int8 give the same label.
    agreement = serializers.FloatField(required=False, allow_null=True)
    seconds = serializers.FloatField(required=False)
    error = serializers.CharField(required=False)
    # Only while the copy is being made (apps.training.compression_jobs); then the figures.
    status = serializers.ChoiceField(choices=["compressing"], required=False)


class PenaltyScoreSerializer(serializers.Serializer):
    l2 = serializers.FloatField()
    cv_log_loss = serializers.FloatField()
    cv_accuracy = serializers.FloatField()


class RegularisationSerializer(serializers.Serializer):
    """The L2 penalty chosen by cross-validation (lowest out-of-sample log-loss)."""

    l2 = serializers.FloatField()
    folds = serializers.IntegerField()
    scores = PenaltyScoreSerializer(many=True)


class FinetuneOutcomeSerializer(serializers.Serializer):
    """How fine-tuning went against the frozen-feature model it started from (epoch 0)."""

    # "kept_probe": no epoch beat it, the version is that model; "unchecked": no validation.
    outcome = serializers.ChoiceField(choices=["improved", "kept_probe", "unchecked"])
    # One sentence for people: what happened and why the run stopped.
    reason = serializers.CharField()
    stopped = serializers.ChoiceField(choices=["patience", "gap", "perfect_probe", "all_epochs"])
    epochs_run = serializers.IntegerField()
    epochs_planned = serializers.IntegerField()
    best_epoch = serializers.IntegerField()
    # Validation accuracy of the starting model and of the weights kept.
    probe_accuracy = serializers.FloatField(allow_null=True)
    best_accuracy = serializers.FloatField(allow_null=True)
    # The kept epoch's averaged (EMA) weights scored better than its raw weights.
    ema_used = serializers.BooleanField()


class TrainingMetricsSerializer(serializers.Serializer):
    """What a job reports: ``history`` while it runs; the evaluation on the held-out images
    once it has succeeded. Every key is optional (a queued job has none)."""

    history = HistoryPointSerializer(many=True, required=False)
    count = serializers.IntegerField(required=False)
    evaluated_on = serializers.CharField(required=False)
    counts = serializers.DictField(child=serializers.IntegerField(), required=False)
    target = TargetSerializer(required=False)
    linear_probe = LinearProbeSerializer(required=False)
    best_epoch = serializers.IntegerField(required=False, allow_null=True)
    accuracy = serializers.FloatField(required=False)
    macro_f1 = serializers.FloatField(required=False)
    ece = serializers.FloatField(required=False)
    per_class = serializers.DictField(child=ClassMetricsSerializer(), required=False)
    confusion_matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()), required=False
    )
    misclassified = MisclassifiedSerializer(many=True, required=False)
    timings = serializers.DictField(child=serializers.FloatField(), required=False)
    accuracy_interval = AccuracyIntervalSerializer(required=False)
    # Seconds the whole run took.
    seconds = serializers.FloatField(required=False)
    # Fine-tuning: "kept_probe" when no epoch beat the quick model it started from (the
    # version's weights are then the quick model's), "improved" otherwise.
    outcome = serializers.ChoiceField(choices=["kept_probe", "improved"], required=False)
    kept_probe = serializers.BooleanField(required=False)
    finetune = FinetuneOutcomeSerializer(required=False)
    # While running: an estimate of the seconds left.
    eta_seconds = serializers.FloatField(required=False)
    # The statically quantized copy (apps.training.compression), beside fp32.
    int8 = Int8MetricsSerializer(required=False)
    # Fast and accurate modes: how the head did out of sample, and the penalty chosen.
    cv_accuracy = CvAccuracySerializer(required=False)
    regularisation = RegularisationSerializer(required=False)


@extend_schema_field(TrainingMetricsSerializer)
class _MetricsField(serializers.JSONField):
    """The stored metrics as the selectors read them (documented by TrainingMetricsSerializer)."""

    def to_representation(self, value):
        return super().to_representation(metrics_for_read(value))


class SnapshotEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    split = serializers.CharField()


@extend_schema_field(SnapshotEntrySerializer(many=True))
class _SnapshotField(serializers.JSONField):
    """The stored snapshot as it is: one entry per image, too many to copy one by one."""


@extend_schema_field({"type": "string", "enum": ["fast", *TrainingJob.Mode.values]})
class _ModeField(serializers.CharField):
    """A training mode ("fast" is "quick"); checked by the service, which says in words what
    the choices are."""


class TrainingJobOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    # 1 for the project's first training run, 2 for its second... (ids are server-wide).
    number = serializers.SerializerMethodField()
    project = serializers.IntegerField(source="project_id")
    mode = serializers.ChoiceField(choices=TrainingJob.Mode.choices)
    status = serializers.ChoiceField(choices=TrainingJob.Status.choices)
    progress = serializers.FloatField(min_value=0.0, max_value=1.0)
    stage = serializers.CharField()
    metrics = _MetricsField()
    model_version = serializers.IntegerField(source="model_version_id", allow_null=True)
    error = serializers.CharField()
    attempts = serializers.IntegerField()
    cancel_requested = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_number(self, job: TrainingJob) -> int:
        return training_job_number(job=job)


class TrainingJobDetailSerializer(TrainingJobOutputSerializer):
    # The technical details of a failure (a traceback), for whoever debugs it.
    log = serializers.CharField()
    image_count = serializers.SerializerMethodField()

    def get_image_count(self, job: TrainingJob) -> int:
        return len(job.snapshot or [])


class TrainingJobCreateSerializer(serializers.Serializer):
    mode = _ModeField(required=False, default=TrainingJob.Mode.QUICK)


class ModelVersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField(source="project_id")
    number = serializers.IntegerField()
    backbone = serializers.CharField()
    mode = serializers.ChoiceField(choices=TrainingJob.Mode.choices)
    # Class names in the order of the model's outputs.
    labels = serializers.ListField(child=serializers.CharField())
    metrics = _MetricsField()
    # SHA-256 of the snapshot: versions trained on the same data have the same one.
    data_hash = serializers.CharField()
    # Every training parameter by name ({} for versions trained before they were recorded).
    parameters = ParametersField()
    training_job = serializers.IntegerField(source="training_job_id", allow_null=True)
    created_at = serializers.DateTimeField()
    downloads = serializers.SerializerMethodField()

    @extend_schema_field(
        {
            "type": "object",
            "description": "Absolute links to the model's files (model: fine-tuned only; "
            "int8: versions quantized at training) and to the export bundle (a zip).",
            "properties": {
                kind: {"type": "string", "format": "uri"}
                for kind in ("onnx", "int8", "head", "model", "bundle")
            },
        }
    )
    def get_downloads(self, version: ModelVersion) -> dict[str, str]:
        request = self.context["request"]
        base = f"/api/v1/models/{version.pk}/download/?file="
        links = {
            kind: request.build_absolute_uri(base + kind)
            for kind, (field, _, _) in DOWNLOADS.items()
            if getattr(version, field)
        }
        links["bundle"] = request.build_absolute_uri(f"/api/v1/models/{version.pk}/export/")
        return links


class ModelVersionDetailSerializer(ModelVersionOutputSerializer):
    # [{"id", "label", "split"}]: exactly what this version was trained and tested on.
    snapshot = _SnapshotField()


class ProjectTrainingJobListApi(APIView):
    """GET: the project's training jobs, newest first (paginated). POST ``{"mode": "fast" |
    "accurate" | "finetune"}`` ("quick" is "fast") starts one in the background and answers 202 with the job; follow it at
    /api/v1/training-jobs/{id}/. 400 says why the data cannot be trained on yet; 409 means
    the project already has a job queued or running."""

    pagination_class = PageNumberPagination  # documents the paginated answer

    @extend_schema(responses=TrainingJobOutputSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(training_job_list(project=project), request, view=self)
        return paginator.get_paginated_response(TrainingJobOutputSerializer(page, many=True).data)

    @extend_schema(
        request=TrainingJobCreateSerializer, responses={202: TrainingJobDetailSerializer}
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = TrainingJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = training_job_create(
            project=project, mode=data.validated_data["mode"], created_by=request.user
        )
        job.refresh_from_db()
        return Response(TrainingJobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class TrainingJobDetailApi(APIView):
    """Status, stage, progress (0..1) and live metrics (``metrics.history``) of one job."""

    @extend_schema(responses=TrainingJobDetailSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = training_job_get_for_user(user=request.user, job_id=job_id)
        return Response(TrainingJobDetailSerializer(job).data)


class TrainingJobCancelApi(APIView):
    """A queued job is cancelled at once; a running one stops at its next check (its status
    says "cancelled" then); a finished one answers 400."""

    @extend_schema(request=None, responses={202: TrainingJobDetailSerializer})
    def post(self, request: Request, job_id: int) -> Response:
        job = training_job_get_for_user(user=request.user, job_id=job_id)
        job = training_job_cancel(job=job)
        job.refresh_from_db()
        return Response(TrainingJobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ProjectModelListApi(APIView):
    """The project's model versions, newest first (paginated), with their metrics."""

    pagination_class = PageNumberPagination  # documents the paginated answer

    @extend_schema(responses=ModelVersionOutputSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(model_version_list(project=project), request, view=self)
        data = ModelVersionOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class ModelVersionDetailApi(APIView):
    """One model version: labels (the order of its outputs), metrics on the held-out images,
    the snapshot it was trained on, and download links."""

    @extend_schema(responses=ModelVersionDetailSerializer)
    def get(self, request: Request, version_id: int) -> Response:
        version = model_version_get_for_user(user=request.user, version_id=version_id)
        return Response(ModelVersionDetailSerializer(version, context={"request": request}).data)


DOWNLOADS = {
    # file= value: (field, download name, content type)
    "onnx": ("onnx_file", "model.onnx", "application/octet-stream"),
    "int8": ("int8_onnx_file", "model.int8.onnx", "application/octet-stream"),
    "head": ("head_file", "head.pt", "application/octet-stream"),
    "model": ("model_file", "model.pt", "application/octet-stream"),
}


class ModelVersionDownloadApi(APIView):
    """The model's files, to use it elsewhere: ``file=onnx`` (preprocessed [N,3,224,224]
    input -> class probabilities, in the order of ``labels``), ``file=int8`` (the same,
    statically quantized), ``file=head`` (the
    classifier head's PyTorch state dict) or, for fine-tuned models, ``file=model`` (the whole
    network's state dict)."""

    @extend_schema(
        parameters=[OpenApiParameter("file", str, enum=list(DOWNLOADS), required=True)],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, version_id: int) -> FileResponse:
        version = model_version_get_for_user(user=request.user, version_id=version_id)
        kind = request.query_params.get("file", "onnx")
        if kind not in DOWNLOADS:
            raise ApplicationError(
                'Choose which file to download: "onnx", "int8", "head" or "model".',
                code="invalid_file",
            )
        field, name, content_type = DOWNLOADS[kind]
        stored = getattr(version, field)
        if not stored:
            raise ApplicationError(
                "This model has no such file (only fine-tuned models have a whole-model file, "
                "and only models quantized at training an int8 file).",
                code="no_such_file",
                status_code=status.HTTP_404_NOT_FOUND,
            )
        extension = posixpath.splitext(name)[1]
        download = f"{version.project.name[:40]}-v{version.number}-{kind}{extension}"
        download = "".join(c if c.isalnum() or c in "-_." else "_" for c in download)
        return FileResponse(
            default_storage.open(stored.name, "rb"),
            as_attachment=True,
            filename=download,
            content_type=content_type,
        )


class ModelVersionExportApi(APIView):
    """The model as a zip to run off the platform: model.onnx (fp32), model.int8.onnx (when
    the version has one), labels.json, preprocessing.json (the spec serving applies),
    predict.py (onnxruntime + Pillow + numpy only) and parity.json with a few held-out
    images (under parity/) and the probabilities the platform gives them:
    ``python predict.py --check`` says whether it answers the same."""

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, version_id: int) -> HttpResponse:
        version = model_version_get_for_user(user=request.user, version_id=version_id)
        if not version.onnx_file.name:
            raise ApplicationError(
                "This model has no exported ONNX file to bundle.",
                code="no_such_file",
                status_code=status.HTTP_404_NOT_FOUND,
            )
        data = model_bundle_build(version=version)
        name = f"{version.project.name[:40]}-v{version.number}-bundle.zip"
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        response = HttpResponse(data, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
