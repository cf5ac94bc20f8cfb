"""A project's retraining policy: GET reads it with its status, PUT changes it (only the
given fields), POST ``run/`` retrains now under the policy (the new model still goes
through the shadow gate). Owner-only (anyone else: 404)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError, validated
from apps.projects.selectors import project_get_for_user
from apps.retraining.models import RetrainPolicy
from apps.retraining.selectors import retrain_policy_get, retrain_status
from apps.retraining.services import retrain_policy_update, retrain_start

MODES = ["fast", "quick", "accurate", "finetune"]


class _VersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class _JobRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    mode = serializers.CharField()


class RetrainStatusSerializer(serializers.Serializer):
    labels_since_last_model = serializers.IntegerField()
    counting_since = serializers.DateTimeField(allow_null=True)
    last_model = _VersionRefSerializer(allow_null=True)
    next_scheduled_at = serializers.DateTimeField(allow_null=True)
    last_triggered_at = serializers.DateTimeField(allow_null=True)
    last_reason = serializers.CharField()
    last_job = _JobRefSerializer(allow_null=True)
    last_outcome = serializers.CharField()


class RetrainPolicyOutputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    new_labels = serializers.IntegerField(allow_null=True)
    on_drift = serializers.BooleanField()
    every_hours = serializers.IntegerField(allow_null=True)
    mode = serializers.CharField()
    gate_min_requests = serializers.IntegerField(allow_null=True)
    status = RetrainStatusSerializer()


class RetrainPolicyInputSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    new_labels = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="Retrain after this many labels."
    )
    on_drift = serializers.BooleanField(required=False)
    every_hours = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=24 * 365
    )
    mode = serializers.ChoiceField(choices=MODES, required=False)
    gate_min_requests = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="The shadow gate promotes after this many requests (null: by hand only).",
    )


def _output(policy: RetrainPolicy) -> dict:
    data = {name: getattr(policy, name) for name in RetrainPolicyInputSerializer().fields}
    data["status"] = retrain_status(policy=policy)
    return RetrainPolicyOutputSerializer(data).data


class RetrainPolicyApi(APIView):
    @extend_schema(responses=RetrainPolicyOutputSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(_output(retrain_policy_get(project=project)))

    @extend_schema(request=RetrainPolicyInputSerializer, responses=RetrainPolicyOutputSerializer)
    def put(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        values = validated(RetrainPolicyInputSerializer(data=request.data))
        policy = retrain_policy_update(project=project, values=values)
        return Response(_output(retrain_policy_get(project=policy.project)))


class RetrainRunApi(APIView):
    """Retrain now under the policy's mode; the model becomes each deployment's shadow
    candidate when it succeeds. 409 while the project trains already."""

    @extend_schema(request=None, responses={202: RetrainPolicyOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        policy = retrain_policy_get(project=project)
        if policy.pk is None:
            policy = retrain_policy_update(project=project, values={})
        job = retrain_start(policy=policy, reason=f"started by {request.user.get_username()}")
        if job is None:
            raise ApplicationError(
                policy.last_outcome, code="retrain_refused", status_code=status.HTTP_409_CONFLICT
            )
        return Response(
            _output(retrain_policy_get(project=project)), status=status.HTTP_202_ACCEPTED
        )
