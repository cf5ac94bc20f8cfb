"""One image's label and split (the image detail endpoint: read, relabel, delete), labeling
many images at once, deleting many at once, and an image's label history.

Both bulk endpoints take either ``image_ids`` (at most MAX_IDS) or a ``filter`` (the same
fields as the image list: label, unlabeled, split), so "select everything in this view"
works for a project of any size."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError
from apps.core.pagination import PageNumberPagination
from apps.datasets.apis import ImageOutputSerializer
from apps.datasets.models import Image, Split
from apps.datasets.selectors import image_filter_clean, image_get, image_list
from apps.datasets.services import images_delete
from apps.labeling.models import LabelEvent
from apps.labeling.selectors import label_event_list
from apps.labeling.services import UNSET, image_update, images_bulk_label
from apps.projects.models import Project
from apps.projects.selectors import project_get_for_user

MAX_IDS = 10_000


class ImageFilterSerializer(serializers.Serializer):
    """The image list's filters (documentation of ``filter``)."""

    label = serializers.CharField(required=False, help_text="A label name.")
    unlabeled = serializers.BooleanField(required=False)
    split = serializers.ChoiceField(
        choices=[*Split.values, "none"], required=False, help_text="none: in no split yet"
    )
    filename = serializers.CharField(required=False, help_text="Part of the file name (any case).")


@extend_schema_field(ImageFilterSerializer)
class _FilterField(serializers.DictField):
    """Checked by image_filter_clean, like the image list's query parameters."""


class BulkSelectionSerializer(serializers.Serializer):
    image_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=MAX_IDS
    )
    filter = _FilterField(required=False)


USER_SOURCES = [LabelEvent.Source.USER, LabelEvent.Source.SUGGESTION]


class BulkLabelSerializer(BulkSelectionSerializer):
    label = serializers.CharField(max_length=100, allow_null=True, allow_blank=True)
    # "suggestion" when the user accepted the model's suggestions (kept in the history).
    source = serializers.ChoiceField(choices=USER_SOURCES, required=False, default="user")


def _selection(project: Project, values: dict[str, Any]) -> QuerySet[Image]:
    if "image_ids" in values and "filter" in values:
        raise ApplicationError(
            'Send either "image_ids" or "filter", not both.', code="invalid_selection"
        )
    if "image_ids" in values:
        return Image.objects.filter(project=project, id__in=values["image_ids"])
    if "filter" in values:
        return image_list(project=project, filters=image_filter_clean(values["filter"]))
    raise ApplicationError(
        'Say which images: send "image_ids" (a list) or "filter" (label, unlabeled, split).',
        code="invalid_selection",
    )


COUNT_SCHEMA = inline_serializer("BulkCount", {"updated": serializers.IntegerField()})


class ImageBulkLabelApi(APIView):
    """Give the selected images ``label`` (a name, created if missing; null clears it).
    Answers how many images changed; each change is recorded in the image's history."""

    @extend_schema(request=BulkLabelSerializer, responses=COUNT_SCHEMA)
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = BulkLabelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = data.validated_data["label"] or None
        updated = images_bulk_label(
            project=project,
            images=_selection(project, data.validated_data),
            label=label,
            actor=request.user,
            source=data.validated_data["source"],
        )
        return Response({"updated": updated})


class ImageBulkDeleteApi(APIView):
    """Delete the selected images (their files go after the commit)."""

    @extend_schema(
        request=BulkSelectionSerializer,
        responses=inline_serializer("BulkDeleted", {"deleted": serializers.IntegerField()}),
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = BulkSelectionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deleted = images_delete(project=project, images=_selection(project, data.validated_data))
        return Response({"deleted": deleted}, status=status.HTTP_200_OK)


class LabelEventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    old_label = serializers.CharField(source="old_label_name")
    new_label = serializers.CharField(source="new_label_name")
    old_label_id = serializers.IntegerField(allow_null=True)
    new_label_id = serializers.IntegerField(allow_null=True)
    actor = serializers.SerializerMethodField()
    source = serializers.ChoiceField(choices=LabelEvent.Source.choices)
    created_at = serializers.DateTimeField()

    def get_actor(self, event) -> str | None:
        return event.actor.username if event.actor_id else None


class ImageHistoryApi(APIView):
    """Who changed this image's label, when, from what to what, and how (user, suggestion,
    import, prediction). Newest first, paginated. Empty names mean "no label"."""

    pagination_class = PageNumberPagination  # documents the paginated answer

    @extend_schema(responses=LabelEventOutputSerializer(many=True))
    def get(self, request: Request, project_id: int, image_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        image = image_get(project=project, image_id=image_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(label_event_list(image=image), request, view=self)
        return paginator.get_paginated_response(LabelEventOutputSerializer(page, many=True).data)


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
