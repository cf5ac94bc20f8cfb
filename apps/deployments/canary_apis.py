"""A deployment's canary rollout (issue 16): PUT starts or changes it, GET reads it, DELETE
stops it, POST ``promote/`` makes the candidate the live version. Owner-only like every
deployment endpoint (anyone else: 404)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError, validated
from apps.deployments.apis import CandidateSerializer, DeploymentOutputSerializer
from apps.deployments.canary import (
    CANARY_MODES,
    deployment_candidate_clear,
    deployment_candidate_promote,
    deployment_candidate_set,
)
from apps.deployments.selectors import deployment_candidate_get, deployment_get_for_user


class CandidateInputSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=list(CANARY_MODES))
    percent = serializers.IntegerField(
        min_value=1, max_value=99, help_text="The share of the requests the candidate answers."
    )


def _no_candidate() -> ApplicationError:
    return ApplicationError(
        "This deployment has no canary under way.",
        code="no_candidate",
        status_code=status.HTTP_404_NOT_FOUND,
    )


class DeploymentCandidateApi(APIView):
    """GET: the canary under way (404 when none). PUT ``{"model_version", "mode": "canary",
    "percent"}``: that share of the requests is answered by the candidate from the next
    request on, in every web process; each answer names the version that gave it. DELETE:
    stop it (the live version answers everything again)."""

    @extend_schema(responses=CandidateSerializer)
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        state = deployment_candidate_get(deployment=deployment)
        if state is None:
            raise _no_candidate()
        return Response(CandidateSerializer(state).data)

    @extend_schema(request=CandidateInputSerializer, responses=CandidateSerializer)
    def put(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        values = validated(CandidateInputSerializer(data=request.data))
        deployment = deployment_candidate_set(
            deployment=deployment,
            model_version_id=values["model_version"],
            mode=values["mode"],
            percent=values["percent"],
        )
        return Response(CandidateSerializer(deployment_candidate_get(deployment=deployment)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        if deployment.candidate_version_id is None:
            raise _no_candidate()
        deployment_candidate_clear(deployment=deployment)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeploymentCandidatePromoteApi(APIView):
    """The candidate becomes the live version (recorded in the history as a promotion) and
    the canary ends. 409 when there is no candidate."""

    @extend_schema(request=None, responses=DeploymentOutputSerializer)
    def post(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        deployment_candidate_promote(deployment=deployment, changed_by=request.user)
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        return Response(DeploymentOutputSerializer(deployment, context={"request": request}).data)
