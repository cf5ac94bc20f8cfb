"""Comparing two model versions of a project (issue 16): what changed in their data and
training (``data-diff``) and how their answers on the same test images differ
(``compare``). Owner-only like every model endpoint (anyone else: 404); two versions of
different projects, or with no test image in common, answer 400 with a sentence."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.training.compare import model_version_compare, model_version_data_diff
from apps.training.models import TrainingJob
from apps.training.selectors import model_version_get_for_user


@extend_schema_field(
    {
        "type": "object",
        "description": "Every training parameter by name (mode, backbone, quick.l2, "
        "finetune.epochs, ...); {} for versions trained before they were recorded.",
        "additionalProperties": {
            "oneOf": [
                {"type": "number"},
                {"type": "string"},
                {"type": "boolean"},
                {"type": "array", "items": {"type": "number"}},
            ]
        },
    }
)
class ParametersField(serializers.DictField):
    """A version's training parameters (``ml.training_parameters``)."""

    child = serializers.JSONField()


class DataVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=TrainingJob.Mode.choices)
    backbone = serializers.CharField()
    created_at = serializers.DateTimeField()
    images = serializers.IntegerField(help_text="Images in the version's snapshot.")
    data_hash = serializers.CharField(help_text="SHA-256 of the snapshot (ids, labels, splits).")
    training_hash = serializers.CharField(
        allow_null=True,
        help_text="SHA-256 of the snapshot and every parameter (null: parameters not recorded).",
    )
    parameters = ParametersField()


# One image's label or split in a and in b ("from" is a Python keyword, hence ``type``).
ImageChangeSerializer = type(
    "ImageChangeSerializer",
    (serializers.Serializer,),
    {
        "image": serializers.IntegerField(),
        "from": serializers.CharField(allow_null=True),
        "to": serializers.CharField(allow_null=True),
    },
)


class ParameterChangeSerializer(serializers.Serializer):
    name = serializers.CharField()
    a = serializers.JSONField(allow_null=True)
    b = serializers.JSONField(allow_null=True)


class DiffCountsSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()
    relabelled = serializers.IntegerField()
    moved = serializers.IntegerField()


class DataDiffSerializer(serializers.Serializer):
    a = DataVersionSerializer()
    b = DataVersionSerializer()
    same_data = serializers.BooleanField()
    counts = DiffCountsSerializer(help_text="Whole counts (each list shows its first 1000).")
    added = serializers.ListField(child=serializers.IntegerField())
    removed = serializers.ListField(child=serializers.IntegerField())
    relabelled = ImageChangeSerializer(many=True)
    moved = ImageChangeSerializer(many=True, help_text="Images moved between splits.")
    parameters_recorded = serializers.BooleanField(
        help_text="False when a version predates recorded parameters: only mode and backbone "
        "are compared then."
    )
    parameters = ParameterChangeSerializer(many=True, help_text="The parameters that changed.")


class CompareSideSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    mode = serializers.ChoiceField(choices=TrainingJob.Mode.choices)
    evaluated_on = serializers.CharField()
    held_out = serializers.IntegerField(help_text="Images this version was tested on.")
    accuracy = serializers.FloatField()
    accuracy_low = serializers.FloatField()
    accuracy_high = serializers.FloatField()
    macro_f1 = serializers.FloatField()
    correct = serializers.IntegerField()
    confusion_matrix = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="Rows: true label; columns: predicted label; both in `labels` order.",
    )


class LabelRecallSerializer(serializers.Serializer):
    label = serializers.CharField()
    images = serializers.IntegerField()
    a_recall = serializers.FloatField()
    b_recall = serializers.FloatField()
    delta = serializers.FloatField(help_text="b_recall - a_recall.")
    low = serializers.FloatField(help_text="95 % interval of delta (Newcombe, paired).")
    high = serializers.FloatField()


class ModelCompareSerializer(serializers.Serializer):
    images = serializers.IntegerField(help_text="Test images both versions share.")
    labels = serializers.ListField(child=serializers.CharField())
    a = CompareSideSerializer()
    b = CompareSideSerializer()
    per_label = LabelRecallSerializer(many=True)
    mcnemar_p = serializers.FloatField(help_text="McNemar's exact test, two-sided.")
    fixed = serializers.ListField(
        child=serializers.IntegerField(), help_text="Images a got wrong and b right."
    )
    broken = serializers.ListField(
        child=serializers.IntegerField(), help_text="Images a got right and b wrong."
    )
    relabelled_excluded = serializers.IntegerField(
        help_text="Shared test images left out because their label changed in between."
    )


class ModelDataDiffApi(APIView):
    """What changed from version ``version_id`` (a) to version ``other_id`` (b): images
    added, removed, relabelled and moved between splits, and the training parameters."""

    @extend_schema(responses=DataDiffSerializer)
    def get(self, request: Request, version_id: int, other_id: int) -> Response:
        a = model_version_get_for_user(user=request.user, version_id=version_id)
        b = model_version_get_for_user(user=request.user, version_id=other_id)
        return Response(DataDiffSerializer(model_version_data_diff(a=a, b=b)).data)


class ModelCompareApi(APIView):
    """Version a against version b on the test images both share: accuracy and macro F1
    with intervals, each label's recall difference with its interval, McNemar's p, both
    confusion matrices, and the images b fixed and broke."""

    @extend_schema(responses=ModelCompareSerializer)
    def get(self, request: Request, version_id: int, other_id: int) -> Response:
        a = model_version_get_for_user(user=request.user, version_id=version_id)
        b = model_version_get_for_user(user=request.user, version_id=other_id)
        return Response(ModelCompareSerializer(model_version_compare(a=a, b=b)).data)
