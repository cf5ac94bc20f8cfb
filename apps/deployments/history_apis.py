"""A deployment's history (issue 16): every change of the version it serves, and the
rollback to the version served before the last change. Owner-only like every deployment
endpoint (anyone else: 404)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.pagination import PageNumberPagination
from apps.deployments.apis import DeploymentOutputSerializer
from apps.deployments.models import DeploymentChange
from apps.deployments.selectors import deployment_get_for_user, deployment_history
from apps.deployments.services import deployment_rollback


class DeploymentChangeSerializer(serializers.Serializer):
    """One change of the served version: when, who, from which version to which, why."""

    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    reason = serializers.ChoiceField(choices=DeploymentChange.Reason.choices)
    from_version = serializers.IntegerField(
        source="from_version_id", allow_null=True, help_text="null: the first version served."
    )
    from_number = serializers.IntegerField(allow_null=True)
    to_version = serializers.IntegerField(
        source="to_version_id", allow_null=True, help_text="null: the version was deleted."
    )
    to_number = serializers.IntegerField()
    changed_by = serializers.CharField(source="changed_by.username", allow_null=True, default=None)


class DeploymentHistoryApi(APIView):
    """Every change of the version the deployment serves, newest first (paginated): when,
    who, from which version to which, and why (deploy, manual, promotion, rollback)."""

    pagination_class = PageNumberPagination  # documents the paginated answer

    @extend_schema(responses=DeploymentChangeSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            deployment_history(deployment=deployment), request, view=self
        )
        return paginator.get_paginated_response(DeploymentChangeSerializer(page, many=True).data)


class DeploymentRollbackApi(APIView):
    """Serve again the version served before the last change (every web process answers
    with it from its next request). 409 when there is no earlier version."""

    @extend_schema(request=None, responses=DeploymentOutputSerializer)
    def post(self, request: Request, slug: str) -> Response:
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        deployment_rollback(deployment=deployment, changed_by=request.user)
        deployment = deployment_get_for_user(user=request.user, slug=slug)
        return Response(DeploymentOutputSerializer(deployment, context={"request": request}).data)
