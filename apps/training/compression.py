"""INT8 compression of a freshly saved model version (run by its own job once training has
stored the fp32 model: ``apps.training.compression_jobs``).

The fp32 graph is quantized (``ml.quantize_classifier``) with the project's own training
images as calibration, then both graphs are evaluated on the same held-out images through
the same preprocessing serving uses, and timed briefly side by side. A failure here never
costs the user the fp32 model: it is recorded as ``{"error": ...}`` and the version ships
without an int8 file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from apps import ml
from apps.datasets.models import Image
from apps.training.embeddings import image_open_normalized
from apps.training.selectors import ID_CHUNK

logger = logging.getLogger(__name__)

INT8_FILENAME = "model.int8.onnx"
# Training images the activation ranges are calibrated on, spread over the training set.
# 16, 64 and all 245 hymenoptera training images gave the same val accuracy; each one costs
# 0.1-0.2 s of calibration on 2 busy cores, on top of about 10 s of fixed work.
CALIBRATION_IMAGES = 32
# Images per ONNX Runtime call, for calibration and evaluation.
BATCH = 16
# Seconds of timing per graph (fp32, int8), in turns (``ml.measure_speeds``).
TIMING_SECONDS = 1.5


class Split(Protocol):
    """The images of a training attempt by role (``runner.Partition``), as (image id, class
    index) pairs."""

    train: list[tuple[int, int]]
    held_out: list[tuple[int, int]]


@dataclass
class Compression:
    """What the training job stores: the int8 file (none when quantization failed) and the
    ``metrics["int8"]`` entry."""

    files: list[tuple[str, str, bytes]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


def calibration_sample(image_ids: Sequence[int], count: int = CALIBRATION_IMAGES) -> list[int]:
    """At most ``count`` of ``image_ids``, evenly spread over them in id order (so every
    label, uploaded in turn, is represented)."""
    ordered = sorted(image_ids)
    if len(ordered) <= count:
        return ordered
    picks = np.linspace(0, len(ordered) - 1, count).round().astype(int)
    return [ordered[i] for i in dict.fromkeys(picks.tolist())]


def _normalized_files(image_ids: Sequence[int]) -> dict[int, str]:
    ids = list(image_ids)
    names: dict[int, str] = {}
    for start in range(0, len(ids), ID_CHUNK):
        names.update(
            Image.objects.filter(id__in=ids[start : start + ID_CHUNK]).values_list(
                "id", "normalized"
            )
        )
    return names


def _preprocessed(image_ids: Sequence[int], names: dict[int, str], backbone: str) -> np.ndarray:
    """float32 [N, 3, H, W] of the images, exactly as serving feeds the model."""
    spec = ml.get_backbone(backbone)
    out = np.empty((len(image_ids), 3, spec.input_size, spec.input_size), np.float32)
    for k, image_id in enumerate(image_ids):
        out[k] = ml.preprocess(image_open_normalized(names[image_id]), spec)
    return out


def compress_int8(
    *,
    onnx_bytes: bytes,
    backbone: str,
    labels: Sequence[str],
    part: Split,
) -> Compression:
    """Quantize the fp32 graph ``onnx_bytes``, calibrated on ``part.train``, and measure
    both graphs on ``part.held_out`` (the test images the version's metrics come from) or,
    when the project has none (quick mode then scores by cross-validation, which a graph
    cannot be), on the training images: the comparison of the two graphs on the same
    images still holds. Never raises: a failure is logged and returned as
    ``metrics == {"error": ...}``, without a file."""
    started = time.monotonic()
    try:
        return _compress(
            onnx_bytes=onnx_bytes,
            backbone=backbone,
            labels=labels,
            train=part.train,
            held_out=part.held_out,
            started=started,
        )
    except Exception as exc:  # noqa: BLE001 - the fp32 model ships whatever went wrong here
        logger.exception("INT8 compression failed; the fp32 model ships alone")
        message = str(exc) or type(exc).__name__
        return Compression(metrics={"error": f"INT8 compression failed: {message}"[:500]})


def _compress(
    *,
    onnx_bytes: bytes,
    backbone: str,
    labels: Sequence[str],
    train: Sequence[tuple[int, int]],
    held_out: Sequence[tuple[int, int]],
    started: float,
) -> Compression:
    calibration_ids = calibration_sample([i for i, _ in train])
    evaluated_on = "held_out" if held_out else "train"
    held_out = held_out or train
    names = _normalized_files([*calibration_ids, *(i for i, _ in held_out)])
    calibration = _preprocessed([i for i in calibration_ids if i in names], names, backbone)
    int8_bytes = ml.quantize_classifier(onnx_bytes, ml.batched(list(calibration), BATCH))

    kept = [(i, y) for i, y in held_out if i in names]
    ids = [i for i, _ in kept]
    y_true = np.asarray([y for _, y in kept], dtype=np.int64)
    arrays = list(_preprocessed(ids, names, backbone))
    result: dict[str, Any] = {
        "calibration_images": len(calibration),
        "evaluated_images": len(ids),
        "evaluated_on": evaluated_on,
    }
    predicted: dict[str, np.ndarray] = {}
    for name, graph in (("fp32", onnx_bytes), ("int8", int8_bytes)):
        probs = ml.onnx_probabilities(graph, ml.batched(arrays, BATCH))
        predicted[name] = probs.argmax(axis=1)
        scores = ml.evaluate(probs, y_true, labels=list(labels), ids=ids)
        result[name] = {
            "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"],
            "size_bytes": len(graph),
        }
    sample = arrays[0] if arrays else calibration[0]
    speeds = ml.measure_speeds(
        {"fp32": onnx_bytes, "int8": int8_bytes}, sample, seconds=TIMING_SECONDS
    )
    for name, speed in speeds.items():
        result[name].update(speed)
    # The int8 figures at the top level (metrics["int8"]["accuracy"], ...), fp32's beside
    # them for the comparison, measured the same way in the same minute.
    metrics = {**result.pop("int8"), **result, "format": "QOperator"}
    # Share of the images on which both graphs give the same label.
    same = predicted["fp32"] == predicted["int8"]
    metrics["agreement"] = round(float(same.mean()), 5) if len(same) else None
    metrics["seconds"] = round(time.monotonic() - started, 3)
    return Compression(files=[("int8_onnx_file", INT8_FILENAME, int8_bytes)], metrics=metrics)
