"""Data health (issue 14): the report, recomputing it, dismissing an issue, and the "label
next" suggestions. Owner-only like every project endpoint (anyone else: 404)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError
from apps.projects.selectors import project_get_for_user
from apps.training.health.selectors import health_report_get
from apps.training.health.services import health_dismiss, health_job_request
from apps.training.models import HealthDismissal
from apps.training.suggestions import SUGGESTIONS_MAX, suggestions_list


class CvAccuracySerializer(serializers.Serializer):
    """Accuracy of out-of-sample (5-fold cross-validated) predictions on every labelled
    image, with its 95 % (Wilson) interval and the number of images behind it."""

    value = serializers.FloatField()
    low = serializers.FloatField()
    high = serializers.FloatField()
    images = serializers.IntegerField()


class NeighbourSerializer(serializers.Serializer):
    """One of the nearest labelled images in embedding space: why the image was flagged."""

    image = serializers.IntegerField()
    label = serializers.CharField(allow_null=True, help_text="Its label now (null: removed).")
    similarity = serializers.FloatField(help_text="Cosine similarity of the embeddings, -1..1.")


_NEIGHBOURS_HELP = (
    "The 5 nearest labelled images, most similar first (the first 600 flagged images of a "
    "report carry them)."
)


class LabelIssueSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    label = serializers.CharField(help_text="The image's label.")
    suggested = serializers.CharField(help_text="The label the model finds more likely.")
    score = serializers.FloatField(help_text="0..1: how likely the label is wrong.")
    neighbours = NeighbourSerializer(many=True, required=False, help_text=_NEIGHBOURS_HELP)


class NearDuplicateSerializer(serializers.Serializer):
    images = serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2)
    similarity = serializers.FloatField()
    cross_split = serializers.BooleanField(
        help_text="One image is in the test split, the other not: the test score is inflated."
    )
    neighbours = NeighbourSerializer(
        many=True,
        required=False,
        help_text=f"Of the first image, its twin left out. {_NEIGHBOURS_HELP}",
    )


class OutlierSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    score = serializers.FloatField(help_text="Mean cosine distance to the 5 nearest images.")
    neighbours = NeighbourSerializer(many=True, required=False, help_text=_NEIGHBOURS_HELP)


class HealthReportSerializer(serializers.Serializer):
    """The newest report (issues dismissed or fixed since are left out)."""

    status = serializers.ChoiceField(choices=["none", "computing", "ready", "failed"])
    # Why the newest computation failed ("" otherwise); the previous report stays readable.
    error = serializers.CharField()
    model_version = serializers.IntegerField(allow_null=True)
    model_version_number = serializers.IntegerField(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)
    cv_accuracy = CvAccuracySerializer(allow_null=True)
    label_issues = LabelIssueSerializer(many=True)
    near_duplicates = NearDuplicateSerializer(many=True)
    outliers = OutlierSerializer(many=True)


class DismissInputSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=HealthDismissal.Kind.choices)


class DismissedSerializer(serializers.Serializer):
    image = serializers.IntegerField(source="image_id")
    kind = serializers.ChoiceField(choices=HealthDismissal.Kind.choices)
    label = serializers.IntegerField(source="label_id", allow_null=True)


class SuggestionSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    # None for a "typical" image (no model guessed it yet).
    predicted = serializers.CharField(allow_null=True)
    confidence = serializers.FloatField(allow_null=True)
    # "typical": the most typical unlabelled image of a group of ``group_size`` alike images
    # (before the model knows every group); "uncertain": the model's smallest margin;
    # "random": the random slice.
    reason = serializers.ChoiceField(choices=["typical", "uncertain", "random"])
    group_size = serializers.IntegerField(required=False)


class SuggestionListSerializer(serializers.Serializer):
    results = SuggestionSerializer(many=True)


class ProjectHealthApi(APIView):
    """GET: the project's data health report. POST: compute it again (202 with the report
    as it stands, status "computing"); it is also computed after every successful
    training."""

    @extend_schema(responses=HealthReportSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(HealthReportSerializer(health_report_get(project=project)).data)

    @extend_schema(request=None, responses={202: HealthReportSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        health_job_request(project=project)
        report = health_report_get(project=project)
        return Response(HealthReportSerializer(report).data, status=status.HTTP_202_ACCEPTED)


class ProjectHealthDismissApi(APIView):
    """Keep an image as it is: ``{"image": id, "kind": "label" | "duplicate" | "outlier"}``.
    A kept label is not flagged again while the image keeps that label."""

    @extend_schema(request=DismissInputSerializer, responses={201: DismissedSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        # Checked by the service, which says in words what is wrong.
        dismissal = health_dismiss(
            project=project, image_id=request.data.get("image"), kind=request.data.get("kind")
        )
        return Response(DismissedSerializer(dismissal).data, status=status.HTTP_201_CREATED)


class ProjectSuggestionsApi(APIView):
    """Unlabelled images to label next (``reason``): before the model knows every group of
    alike images, the most typical image of each group, largest first ("typical", no
    guess); then the newest model's guess, least sure first, no two near-duplicates
    ("uncertain"), and a random tenth ("random")."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "limit", int, required=False, description=f"1..{SUGGESTIONS_MAX} (default 20)"
            )
        ],
        responses=SuggestionListSerializer,
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        raw = request.query_params.get("limit") or "20"
        if not raw.isdigit() or not 1 <= int(raw) <= SUGGESTIONS_MAX:
            raise ApplicationError(
                f"limit: use a whole number from 1 to {SUGGESTIONS_MAX}.",
                code="invalid_limit",
                extra={"fields": {"limit": [f"Use a whole number from 1 to {SUGGESTIONS_MAX}."]}},
            )
        results = suggestions_list(project=project, limit=int(raw))
        return Response(SuggestionListSerializer({"results": results}).data)
