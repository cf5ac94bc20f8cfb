"""Bakehouse's machine-learning runtime: plain PyTorch / ONNX Runtime, no Django.

Apps talk to it through this small API. The names are imported on first use (PEP 562), so
that the web process, which needs only ``images``, ``preprocess`` and ``Predictor`` (ONNX
Runtime), never imports torch: that saves about 700 MB per web worker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "BACKBONES": "backbones",
    "BackboneSpec": "backbones",
    "get_backbone": "backbones",
    "load_features": "features",
    "embed": "embedding",
    "embed_arrays": "embedding",
    "evaluate": "evaluation",
    "expected_calibration_error": "evaluation",
    "export_onnx": "export",
    "LinearHead": "heads",
    "build_classifier": "heads",
    "load_state": "heads",
    "save_state": "heads",
    "Predictor": "inference",
    "preprocess": "preprocessing",
    "preprocess_batch": "preprocessing",
    "train_transform": "preprocessing",
    "FinetuneSpec": "training",
    "ProgressEvent": "training",
    "QuickSpec": "training",
    "TrainCancelled": "training",
    "TrainResult": "training",
    "fit_finetune": "training",
    "fit_quick": "training",
}

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "FinetuneSpec",
    "LinearHead",
    "Predictor",
    "ProgressEvent",
    "QuickSpec",
    "TrainCancelled",
    "TrainResult",
    "build_classifier",
    "embed",
    "embed_arrays",
    "evaluate",
    "expected_calibration_error",
    "export_onnx",
    "fit_finetune",
    "fit_quick",
    "get_backbone",
    "load_features",
    "load_state",
    "preprocess",
    "preprocess_batch",
    "save_state",
    "train_transform",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from apps.ml.backbones import BACKBONES, BackboneSpec, get_backbone
    from apps.ml.embedding import embed, embed_arrays
    from apps.ml.evaluation import evaluate, expected_calibration_error
    from apps.ml.export import export_onnx
    from apps.ml.features import load_features
    from apps.ml.heads import LinearHead, build_classifier, load_state, save_state
    from apps.ml.inference import Predictor
    from apps.ml.preprocessing import preprocess, preprocess_batch, train_transform
    from apps.ml.training import (
        FinetuneSpec,
        ProgressEvent,
        QuickSpec,
        TrainCancelled,
        TrainResult,
        fit_finetune,
        fit_quick,
    )
