"""What the insights endpoints read, computed in the health job (never in a web request):
one out-of-sample prediction per labelled image and the learning curve.

Out-of-sample predictions: every labelled image is scored by a head that never saw it (the
job's cross-validation); test images are scored by the newest quick model of the same
backbone instead when its classes are the project's current ones (it was never trained on
them: that is its test evaluation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.core.files.storage import default_storage

from apps import ml
from apps.training.models import FROZEN_FEATURE_MODES, ModelVersion

SPLITS = ("train", "val", "test")
# The learning curve repeats each smaller subset this many times below REPEAT_BELOW images.
LEARNING_REPEATS = 2
REPEAT_BELOW = 3000
# The learning curve needs at least this many labelled images (and two classes).
CURVE_MIN_IMAGES = 8


def out_of_sample_compute(
    *,
    rows: list[tuple[int, str, str]],
    names: list[str],
    features: np.ndarray,
    probs: np.ndarray,
    project_id: int,
    backbone: str,
) -> dict[str, Any]:
    """The stored ``out_of_sample`` of the labelled ``rows`` ((image, label, split), in the
    order of ``features`` and of the cross-validated ``probs``)."""
    probs = np.array(probs, dtype=np.float32, copy=True)
    sources = dict.fromkeys(SPLITS, "cross_validation")
    model_version = None
    test = [k for k, row in enumerate(rows) if row[2] == "test"]
    version = (
        ModelVersion.objects.filter(
            project_id=project_id, mode__in=FROZEN_FEATURE_MODES, backbone=backbone
        )
        .exclude(head_file="")
        .order_by("-number")
        .first()
    )
    if version is not None and list(version.labels) == names and test and version.head_file.name:
        with default_storage.open(version.head_file.name, "rb") as handle:
            head = ml.load_state(handle.read())
        probs[test] = ml.head_probabilities(head, features[test])
        sources["test"] = "model"
        model_version = version.number
    best = probs.argmax(axis=1)
    return {
        "labels": names,
        "sources": sources,
        "model_version": model_version,
        "images": [
            [image, label, names[int(best[k])], round(float(probs[k, best[k]]), 4), split]
            for k, (image, label, split) in enumerate(rows)
        ],
    }


def _sentence(name: str, more: int, gain: float) -> str:
    if gain < 0.5:
        return (
            f'More images of "{name}" would add little: about {more} more should add under '
            "half a point of accuracy."
        )
    return f'About {more} more images of "{name}" should add about {gain:g} points of accuracy.'


def learning_curve_compute(
    *, features: np.ndarray, labels: np.ndarray, names: list[str], folds: int
) -> dict[str, Any]:
    """Cross-validated accuracy against images per class on 25/50/75/100 % of the labelled
    images (stratified), the power law fitted to it, and per label how many more images
    should add how many points: the stored ``learning_curve``."""
    answer: dict[str, Any] = {"images": len(labels), "points": [], "fit": None, "advice": []}
    if len(names) < 2 or len(labels) < CURVE_MIN_IMAGES:
        return answer
    with ml.torch_threads(1):
        points = ml.learning_curve(
            features,
            labels,
            num_classes=len(names),
            folds=folds,
            repeats=LEARNING_REPEATS if len(labels) < REPEAT_BELOW else 1,
        )
    law, advice = ml.learning_advice(points)
    answer["points"] = [
        {
            "per_class": p.per_class,
            "images": p.images,
            "accuracy": round(p.accuracy, 4),
            "low": round(p.low, 4),
            "high": round(p.high, 4),
        }
        for p in points
    ]
    answer["fit"] = {"a": round(law.a, 4), "b": round(law.b, 4), "c": round(law.c, 3)}
    answer["advice"] = [
        {
            "label": names[a.label],
            "more_images": a.more_images,
            "expected_gain_points": a.expected_gain_points,
            "recall_now": a.recall_now,
            "recall_then": a.recall_then,
            "sentence": _sentence(names[a.label], a.more_images, a.expected_gain_points),
        }
        for a in advice
    ]
    return answer
