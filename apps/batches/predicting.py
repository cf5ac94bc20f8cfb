"""A batch's predictions, made by exactly the serving code of the live endpoint: the same
loaded model (``serving.registry.registry.runner_for``: the version's graph in the chosen
precision, its out-of-distribution scorer), the same decoding within the same pixel budget
(``serving.decoding.decode_for_model``), the same preprocessing (``ml.preprocess_batch``).
An image that cannot be decoded becomes its row's error, with the endpoint's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from apps import ml
from apps.batches.inputs import BatchInput
from apps.core.exceptions import ApplicationError
from apps.deployments.inputs import IncomingImage, max_image_bytes
from apps.deployments.serving.decoding import decode_for_model
from apps.deployments.serving.registry import registry
from apps.training.models import ModelVersion


@dataclass(frozen=True, slots=True)
class BatchModel:
    """The loaded model a batch answers with, and the threshold of its ``uncertain``."""

    runner: Any  # serving.runner.ModelRunner
    labels: tuple[str, ...]
    backbone: str
    threshold: float


@dataclass(frozen=True, slots=True)
class RowResult:
    index: int
    name: str
    label: str = ""
    confidence: float | None = None
    uncertain: bool | None = None
    out_of_distribution: bool | None = None
    error: str = ""


def batch_model_load(*, version: ModelVersion, precision: str, threshold: float) -> BatchModel:
    """The version's graph in ``precision`` as the prediction API loads it (kept loaded in
    this process, like the web workers keep theirs)."""
    int8 = precision == "int8" and bool(version.int8_onnx_file.name)
    runner = registry.runner_for(
        version_id=version.pk,
        onnx_name=str(version.int8_onnx_file.name if int8 else version.onnx_file.name),
        labels=tuple(version.labels),
        backbone=version.backbone,
        ood_name=version.ood_file.name or "",
        precision="int8" if int8 else "fp32",
    )
    return BatchModel(
        runner=runner,
        labels=tuple(version.labels),
        backbone=version.backbone,
        threshold=float(threshold),
    )


def _ood_flags(runner: Any, features: np.ndarray | None, count: int) -> list[bool | None]:
    """As the endpoint flags an image: its embedding's score above the scorer's threshold
    (None for a model without a reference)."""
    scorer = getattr(runner, "ood", None)
    if scorer is None or features is None:
        return [None] * count
    return [bool(score > scorer.threshold) for score in scorer.scores(features)]


def predict_inputs(model: BatchModel, inputs: list[BatchInput]) -> list[RowResult]:
    """One row per input, in order."""
    rows: dict[int, RowResult] = {}
    pictures: list[Any] = []
    decoded_for: list[BatchInput] = []
    for item in inputs:
        if item.data is None:
            rows[item.index] = RowResult(item.index, item.name, error=item.error)
            continue
        try:
            (decoded,) = decode_for_model(
                [IncomingImage(data=item.data, filename=item.name)],
                backbone=model.backbone,
                many=False,
                max_bytes=max_image_bytes(),
            )
        except ApplicationError as exc:
            rows[item.index] = RowResult(item.index, item.name, error=exc.message)
            continue
        pictures.append(decoded.image)
        decoded_for.append(item)
    if pictures:
        batch = ml.preprocess_batch(pictures, model.backbone)
        probabilities, features = model.runner.predict_arrays_with_features(batch)
        flags = _ood_flags(model.runner, features, len(probabilities))
        for item, row, flag in zip(decoded_for, probabilities, flags, strict=True):
            top = int(np.argsort(-row, kind="stable")[0])
            confidence = float(row[top])
            rows[item.index] = RowResult(
                item.index,
                item.name,
                label=model.labels[top],
                confidence=confidence,
                uncertain=confidence < model.threshold,
                out_of_distribution=flag,
            )
    return [rows[item.index] for item in inputs]
