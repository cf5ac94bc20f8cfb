"""The data seen through its embeddings (issue 14): the embedding map, clusters of
unlabelled images, the confusion matrix with the images of each cell, accuracy per
metadata slice and the learning curve. Only the project's owner sees them (404 otherwise).
The map and clusters are computed from the cached embeddings; the out-of-sample predictions
and the learning curve are read from the newest data health report (see
``apps.training.insights``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.pagination import PageNumberPagination
from apps.projects.selectors import project_get_for_user
from apps.training.insights import (
    CONFUSION_SPLITS,
    clusters_get,
    confusion_get,
    learning_curve_get,
    map_get,
    slices_get,
)

# "none": no image has an embedding yet; "partial": some are still being embedded (their
# number is ``missing``); "ready": every image is there.
STATUSES = ["none", "partial", "ready"]
SOURCES = ["cross_validation", "model"]
# The data health report the predictions and the learning curve come from (the choices of
# the report's own "status", one enum in the schema): "none" (never asked for), "computing" (the newest is being computed; an older one's answer if any),
# "ready", "failed" (the newest failed; an older one's answer if any).
REPORT_STATUSES = ["none", "computing", "ready", "failed"]


@extend_schema_field({"type": "string", "enum": STATUSES})
class _StatusField(serializers.CharField):
    """An inline enum: "status" is a name other answers use with other choices."""


@extend_schema_field({"type": "string", "enum": SOURCES})
class _SourceField(serializers.CharField):
    """Where a split's predictions come from (an inline enum, shared by three fields)."""


class MapPointSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    x = serializers.FloatField()
    y = serializers.FloatField()
    label = serializers.CharField(allow_null=True)
    split = serializers.CharField(allow_blank=True)
    # Labelled images: the out-of-sample prediction; unlabelled: the model's guess.
    predicted = serializers.CharField(required=False)
    confidence = serializers.FloatField(required=False)
    issue = serializers.ChoiceField(choices=["label", "outlier", "duplicate"], required=False)
    # Before any model exists: the cluster of an unlabelled image.
    cluster = serializers.IntegerField(required=False)


class ClusterSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    size = serializers.IntegerField()
    # The images nearest the cluster's centre (6 at most).
    sample = serializers.ListField(child=serializers.IntegerField())


class ClusterSerializer(ClusterSummarySerializer):
    images = serializers.ListField(child=serializers.IntegerField())


class EmbeddingMapSerializer(serializers.Serializer):
    status = _StatusField()
    missing = serializers.IntegerField()
    points = MapPointSerializer(many=True)
    # Only before any model exists (null after).
    clusters = ClusterSummarySerializer(many=True, allow_null=True)


class ClusterListSerializer(serializers.Serializer):
    status = _StatusField()
    missing = serializers.IntegerField()
    clusters = ClusterSerializer(many=True)


class ConfusionImageSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    label = serializers.CharField()
    predicted = serializers.CharField()
    confidence = serializers.FloatField()
    split = serializers.CharField(allow_blank=True)


class ConfusionSourcesSerializer(serializers.Serializer):
    train = _SourceField()
    val = _SourceField()
    test = _SourceField()


class ConfusionMatricesSerializer(serializers.Serializer):
    train = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    val = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    test = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    all = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))


class ConfusionSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=REPORT_STATUSES)
    # Rows: true label; columns: predicted; both in this order.
    labels = serializers.ListField(child=serializers.CharField())
    matrices = ConfusionMatricesSerializer()
    # Where each split's predictions come from (empty with fewer than two labels).
    sources = ConfusionSourcesSerializer(required=False)
    # The quick model whose test evaluation gives the test split's predictions, if any.
    model_version = serializers.IntegerField(allow_null=True)
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    # The images of the cell asked for (true and predicted), most confident first.
    results = ConfusionImageSerializer(many=True)


class CurvePointSerializer(serializers.Serializer):
    per_class = serializers.FloatField()
    images = serializers.IntegerField()
    accuracy = serializers.FloatField()
    low = serializers.FloatField()
    high = serializers.FloatField()


class CurveAdviceSerializer(serializers.Serializer):
    label = serializers.CharField()
    more_images = serializers.IntegerField()
    expected_gain_points = serializers.FloatField()
    recall_now = serializers.FloatField()
    recall_then = serializers.FloatField()
    sentence = serializers.CharField()


class CurveFitSerializer(serializers.Serializer):
    """accuracy = a - b * per_class^-c"""

    a = serializers.FloatField()
    b = serializers.FloatField()
    c = serializers.FloatField()


class LearningCurveSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=REPORT_STATUSES)
    images = serializers.IntegerField()
    points = CurvePointSerializer(many=True)
    fit = CurveFitSerializer(allow_null=True)
    advice = CurveAdviceSerializer(many=True)


class SliceSerializer(serializers.Serializer):
    # null: the images without this column.
    value = serializers.CharField(allow_null=True)
    accuracy = serializers.FloatField()
    low = serializers.FloatField()
    high = serializers.FloatField()
    images = serializers.IntegerField()


class SliceListSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=REPORT_STATUSES)
    key = serializers.CharField(allow_null=True)
    # The metadata columns of the project's labelled images.
    keys = serializers.ListField(child=serializers.CharField())
    slices = SliceSerializer(many=True)


class ProjectMapApi(APIView):
    """Every embedded image on a 2-D map (PCA of its embedding, x and y in [-1, 1]) with
    its label, split, prediction and health issue; before any model, the clusters."""

    @extend_schema(responses=EmbeddingMapSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(EmbeddingMapSerializer(map_get(project=project)).data)


class ProjectClustersApi(APIView):
    """The unlabelled images grouped by look, largest group first: label a whole group with
    POST /api/v1/projects/{id}/images/bulk-label/ {"image_ids": [...], "label": ...}."""

    @extend_schema(responses=ClusterListSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(ClusterListSerializer(clusters_get(project=project)).data)


class ProjectConfusionApi(APIView):
    """The confusion matrices of the out-of-sample predictions (cross-validation; the
    newest quick model's on the test split) per split and for all, and with ``true`` and
    ``predicted`` (label names) the images of that cell in ``split``, paginated."""

    pagination_class = PageNumberPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("true", str, description="The true label of the cell."),
            OpenApiParameter("predicted", str, description="The predicted label of the cell."),
            OpenApiParameter("split", str, enum=list(CONFUSION_SPLITS)),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
        responses=ConfusionSerializer,
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        params = request.query_params
        answer = confusion_get(
            project=project,
            true=params.get("true"),
            predicted=params.get("predicted"),
            split=params.get("split") or "all",
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(answer.pop("images"), request, view=self)
        paged = paginator.get_paginated_response(page).data
        return Response(ConfusionSerializer({**answer, **paged}).data)


class ProjectLearningCurveApi(APIView):
    """Cross-validated accuracy against images per class (25, 50, 75, 100 % of the labelled
    images), the power law fitted to it, and per label how many more images should add how
    many points of accuracy, largest gain first."""

    @extend_schema(responses=LearningCurveSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(LearningCurveSerializer(learning_curve_get(project=project)).data)


class ProjectSlicesApi(APIView):
    """Out-of-sample accuracy per value of the metadata column ``key``, with its 95 %
    interval and image count, worst first. Without ``key``: the columns there are."""

    @extend_schema(
        parameters=[OpenApiParameter("key", str, description="A metadata column.")],
        responses=SliceListSerializer,
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        answer = slices_get(project=project, key=request.query_params.get("key") or None)
        return Response(SliceListSerializer(answer).data)
