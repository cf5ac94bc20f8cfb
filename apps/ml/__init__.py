"""Bakehouse's machine-learning runtime: plain PyTorch / ONNX Runtime, no Django.

Apps talk to it through this small API.
"""

from apps.ml.backbones import BACKBONES, BackboneSpec, get_backbone, load_features
from apps.ml.embedding import embed, embed_arrays
from apps.ml.evaluation import evaluate, expected_calibration_error
from apps.ml.export import export_onnx
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
