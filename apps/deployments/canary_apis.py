"""A deployment's rollout (issue 16), canary or shadow: PUT starts or changes it, GET reads
it, DELETE stops it (abort), POST ``promote/`` makes the candidate the live version. For a
shadow also its disagreements (``disagreements/``, paginated) and settling one
(``disagreements/<id>/settle/``). Owner-only like every deployment endpoint (anyone else:
404)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError, validated
from apps.core.pagination import PageNumberPagination
from apps.deployments.apis import (
    CandidateSerializer,
    DeploymentOutputSerializer,
    GateSerializer,
    LabelScoreSerializer,
)
from apps.deployments.canary import (
    CANARY_MODES,
    deployment_candidate_clear,
    deployment_candidate_promote,
    deployment_candidate_set,
)
from apps.deployments.models import Deployment
from apps.deployments.prediction_log_apis import _file_url
from apps.deployments.selectors import deployment_candidate_get, deployment_get_for_user
from apps.deployments.shadow import shadow_result_settle
from apps.deployments.shadow_selectors import (
    shadow_disagreement_rows,
    shadow_disagreements,
    shadow_result_get,
)


class CandidateInputSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=list(CANARY_MODES))
    percent = serializers.IntegerField(
        min_value=1,
        max_value=99,
        required=False,
        allow_null=True,
        help_text="A canary's share of the requests (a shadow takes none).",
    )
    gate_min_requests = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Shadow only: promote by itself after this many requests when the gate "
        "passes (null: no gate).",
    )
    gate_min_agreement = serializers.FloatField(
        min_value=0.0,
        max_value=1.0,
        required=False,
        allow_null=True,
        help_text="The share of requests the candidate must agree on (default 0.95), unless "
        "settled disagreements favour it.",
    )


class DisagreementSerializer(serializers.Serializer):
    """A request the two versions answered differently."""

    id = serializers.IntegerField()
    prediction = serializers.UUIDField(help_text="The live answer's id in the prediction log.")
    created_at = serializers.DateTimeField()
    live = LabelScoreSerializer()
    candidate = LabelScoreSerializer()
    settled_label = serializers.CharField(allow_null=True, help_text="The true label, once given.")
    image_url = serializers.SerializerMethodField()

    def get_image_url(self, row: dict[str, Any]) -> str | None:
        return _file_url(self.context["request"], row["image"])


class CandidateDetailSerializer(CandidateSerializer):
    gate = GateSerializer(required=False)
    disagreements = DisagreementSerializer(
        many=True, required=False, help_text="The latest disagreements, unsettled first."
    )


class SettleInputSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100)


class SettledOutputSerializer(serializers.Serializer):
    disagreement = DisagreementSerializer()
    image = serializers.IntegerField(help_text="The data set's image.")
    created = serializers.BooleanField(help_text="False: the data set had the image already.")


def _no_candidate() -> ApplicationError:
    return ApplicationError(
        "This deployment has no rollout under way.",
        code="no_candidate",
        status_code=status.HTTP_404_NOT_FOUND,
    )


def _state(request: Request, deployment: Deployment) -> dict[str, Any]:
    state = deployment_candidate_get(deployment=deployment, detail=True)
    if state is None:
        raise _no_candidate()
    return CandidateDetailSerializer(state, context={"request": request}).data


class DeploymentCandidateApi(APIView):
    """GET: the rollout under way (404 when none). PUT ``{"model_version", "mode":
    "canary", "percent"}``: that share of the requests is answered by the candidate from the
    next request on, in every web process; each answer names the version that gave it. PUT
    ``{"model_version", "mode": "shadow", "gate_min_requests"?, "gate_min_agreement"?}``:
    the live version answers every request and the candidate runs on the same inputs; both
    answers are kept. DELETE: stop it (the live version alone again)."""

    @extend_schema(responses=CandidateDetailSerializer)
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        return Response(_state(request, deployment))

    @extend_schema(request=CandidateInputSerializer, responses=CandidateDetailSerializer)
    def put(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        values = validated(CandidateInputSerializer(data=request.data))
        deployment = deployment_candidate_set(
            deployment=deployment,
            model_version_id=values["model_version"],
            mode=values["mode"],
            percent=values.get("percent"),
            gate_min_requests=values.get("gate_min_requests"),
            gate_min_agreement=values.get("gate_min_agreement"),
        )
        return Response(_state(request, deployment))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        if deployment.candidate_version_id is None:
            raise _no_candidate()
        deployment_candidate_clear(deployment=deployment)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeploymentCandidatePromoteApi(APIView):
    """The candidate becomes the live version (recorded in the history as a promotion) and
    the rollout ends. 409 when there is no candidate."""

    @extend_schema(request=None, responses=DeploymentOutputSerializer)
    def post(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        deployment_candidate_promote(deployment=deployment, changed_by=request.user)
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        return Response(DeploymentOutputSerializer(deployment, context={"request": request}).data)


class ShadowDisagreementListApi(APIView):
    """The shadow's disagreements, newest first (paginated); ``?settled=false`` keeps the
    ones nobody labeled yet (``true``: the labeled ones)."""

    pagination_class = PageNumberPagination

    @extend_schema(
        parameters=[OpenApiParameter("settled", bool, required=False)],
        responses=DisagreementSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        raw = (request.query_params.get("settled") or "").lower()
        if raw not in ("", "true", "false"):
            raise ApplicationError("settled: Use true or false.", code="invalid_settled")
        settled = None if raw == "" else raw == "true"
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            shadow_disagreements(deployment=deployment, settled=settled), request, view=self
        )
        rows = shadow_disagreement_rows(list(page or []))
        data = DisagreementSerializer(rows, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class ShadowDisagreementSettleApi(APIView):
    """Say which label was right for a disagreement: its image goes into the project's data
    set with that label, and the answer counts for the live version, the candidate or
    neither (``settled``). 400 when the deployment does not store images."""

    @extend_schema(request=SettleInputSerializer, responses=SettledOutputSerializer)
    def post(self, request: Request, slug: str, result_id: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        result = shadow_result_get(deployment=deployment, result_id=result_id)
        values = validated(SettleInputSerializer(data=request.data))
        result, image, created = shadow_result_settle(
            deployment=deployment, result=result, label=values["label"], user=request.user
        )
        row = shadow_disagreement_rows([result])[0]
        payload = {
            "disagreement": DisagreementSerializer(row, context={"request": request}).data,
            "image": image.pk,
            "created": created,
        }
        return Response(payload, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
