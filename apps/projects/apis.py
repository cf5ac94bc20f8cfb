"""Projects (the problem definition) and their labels.

Only the owner sees or changes a project; for anyone else it answers 404."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.pagination import PageNumberPagination
from apps.projects.models import Label, Project
from apps.projects.selectors import (
    label_get,
    label_list,
    project_get_annotated_for_user,
    project_get_for_user,
    project_list_for_user,
)
from apps.projects.services import (
    label_create,
    label_delete,
    label_update,
    project_create,
    project_delete,
    project_update,
)


class LabelOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    color = serializers.CharField()
    image_count = serializers.IntegerField(required=False)


class ProjectOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    predicts = serializers.CharField()
    task_type = serializers.ChoiceField(choices=Project.TaskType.choices)
    target_metric = serializers.ChoiceField(choices=Project.TargetMetric.choices)
    target_value = serializers.FloatField(min_value=0.0, max_value=1.0)
    target_display = serializers.CharField()
    backbone = serializers.CharField()
    image_count = serializers.IntegerField()
    labeled_count = serializers.IntegerField()
    label_count = serializers.IntegerField()
    latest_accuracy = serializers.FloatField(allow_null=True)
    labels = LabelOutputSerializer(many=True, source="label_rows")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    predicts = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    task_type = serializers.ChoiceField(
        choices=Project.TaskType.choices, required=False, default=Project.TaskType.SINGLE_LABEL
    )
    target_metric = serializers.ChoiceField(
        choices=Project.TargetMetric.choices,
        required=False,
        default=Project.TargetMetric.ACCURACY,
    )
    target_value = serializers.FloatField(required=False, default=0.9, min_value=0.0, max_value=1.0)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, default=list, max_length=500
    )


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    predicts = serializers.CharField(max_length=300, required=False, allow_blank=True)
    task_type = serializers.ChoiceField(choices=Project.TaskType.choices, required=False)
    target_metric = serializers.ChoiceField(choices=Project.TargetMetric.choices, required=False)
    target_value = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)


def _with_labels(queryset):
    return queryset.prefetch_related(
        Prefetch("labels", queryset=Label.objects.order_by("name"), to_attr="label_rows")
    )


def _project_payload(*, user, project_id: int) -> dict:
    project = project_get_annotated_for_user(user=user, project_id=project_id)
    project.label_rows = list(label_list(project=project))
    return ProjectOutputSerializer(project).data


class ProjectListApi(APIView):
    """Your projects (newest first, paginated), each with its image, labeled-image and label
    counts and the latest model version's accuracy; POST creates one (``labels`` may list
    label names to create at once)."""

    pagination_class = PageNumberPagination  # documents the paginated answer

    @extend_schema(responses=ProjectOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            _with_labels(project_list_for_user(user=request.user)), request, view=self
        )
        return paginator.get_paginated_response(ProjectOutputSerializer(page, many=True).data)

    @extend_schema(request=ProjectInputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request: Request) -> Response:
        data = ProjectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(owner=request.user, **data.validated_data)
        return Response(
            _project_payload(user=request.user, project_id=project.id),
            status=status.HTTP_201_CREATED,
        )


class ProjectDetailApi(APIView):
    @extend_schema(responses=ProjectOutputSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        return Response(_project_payload(user=request.user, project_id=project_id))

    @extend_schema(request=ProjectUpdateSerializer, responses=ProjectOutputSerializer)
    def patch(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = ProjectUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project_update(project=project, data=data.validated_data)
        return Response(_project_payload(user=request.user, project_id=project_id))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        project_delete(project=project)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabelInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    color = serializers.RegexField(
        r"^(#[0-9a-fA-F]{6})?$",
        required=False,
        allow_blank=True,
        error_messages={"invalid": "Give the colour as # and six hex digits, like #1c7ed6."},
    )


class LabelListApi(APIView):
    """The project's labels (a plain list, by name), each with its image count."""

    @extend_schema(responses=LabelOutputSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(LabelOutputSerializer(label_list(project=project), many=True).data)

    @extend_schema(request=LabelInputSerializer, responses={201: LabelOutputSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = LabelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = label_create(
            project=project,
            name=data.validated_data.get("name", ""),
            color=data.validated_data.get("color", ""),
        )
        return Response(
            LabelOutputSerializer(label_get(project=project, label_id=label.id)).data,
            status=status.HTTP_201_CREATED,
        )


class LabelDetailApi(APIView):
    """Rename or recolour a label; DELETE removes it and leaves its images unlabeled."""

    @extend_schema(responses=LabelOutputSerializer)
    def get(self, request: Request, project_id: int, label_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(LabelOutputSerializer(label_get(project=project, label_id=label_id)).data)

    @extend_schema(request=LabelInputSerializer, responses=LabelOutputSerializer)
    def patch(self, request: Request, project_id: int, label_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        label = label_get(project=project, label_id=label_id)
        data = LabelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label_update(
            label=label,
            name=data.validated_data.get("name"),
            color=data.validated_data.get("color"),
        )
        return Response(LabelOutputSerializer(label_get(project=project, label_id=label_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, project_id: int, label_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        label = label_get(project=project, label_id=label_id)
        label_delete(label=label, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
