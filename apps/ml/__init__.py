"""Bakehouse's machine-learning runtime: plain PyTorch / ONNX Runtime, no Django.

Apps talk to it through this API only (``from apps import ml`` then ``ml.name``, or
``from apps.ml import name``), never through its submodules. The names are imported on
first use (PEP 562), so that the web process, which needs only ``open_image``,
``preprocess_batch`` and ``Predictor`` (Pillow, numpy, ONNX Runtime), never imports torch:
that saves about 700 MB per web worker.

The public names are declared once, in ``_EXPORTS``; ``__all__`` is derived from it. The
``TYPE_CHECKING`` imports below repeat them only because type checkers cannot follow a
lazy table; ``tests/ml/test_public_api.py`` fails when the two disagree. (``lazy_loader``
with a ``.pyi`` stub would do the same with one more dependency and a stub parsed at
import time.)
"""

# The TYPE_CHECKING imports re-export names that ``__all__`` lists only at run time.
# ruff: noqa: F401

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_EXPORTS: dict[str, str] = {
    # backbones (no torch)
    "BACKBONES": "backbones",
    "BackboneSpec": "backbones",
    "get_backbone": "backbones",
    # images: the one gate for untrusted files (no torch)
    "FORMAT_EXTENSIONS": "images",
    "DecodedImage": "images",
    "ImageHeader": "images",
    "ImageRejected": "images",
    "open_image": "images",
    "prepare_for_storage": "images",
    "read_image_header": "images",
    # preprocessing (no torch, except train_transform when called)
    "preprocess": "preprocessing",
    "preprocess_batch": "preprocessing",
    "train_transform": "preprocessing",
    # serving (ONNX Runtime, no torch)
    "Predictor": "inference",
    # embeddings (ONNX Runtime; the first call per backbone exports the graph with torch)
    "embed": "embedding",
    "embed_arrays": "embedding",
    # metrics (numpy)
    "evaluate": "evaluation",
    "expected_calibration_error": "evaluation",
    # ONNX graphs
    "compose_classifier_onnx": "onnx_compose",
    "export_checked": "export",
    "export_onnx": "export",
    # torch models and their state
    "load_features": "features",
    "LinearHead": "heads",
    "build_classifier": "heads",
    "head_probabilities": "heads",
    "load_state": "heads",
    "save_state": "heads",
    "state_bytes": "heads",
    "torch_threads": "threads",
    # training
    "CheckpointError": "finetune",
    "FinetuneSpec": "training",
    "ProgressEvent": "training",
    "QuickSpec": "training",
    "TrainCancelled": "training",
    "TrainResult": "training",
    "fit_finetune": "finetune",
    "fit_quick": "training",
    # data health on embeddings (numpy; cross-validation uses torch, cleanlab when called)
    "DUPLICATE_SIMILARITY": "data_health",
    "DuplicatePair": "data_health",
    "Interval": "data_health",
    "LabelIssue": "data_health",
    "OutlierScorer": "data_health",
    "accuracy_interval": "data_health",
    "cross_validated_probabilities": "data_health",
    "label_issues": "data_health",
    "near_duplicates": "data_health",
    # maps, clusters and learning curves on embeddings (numpy, scikit-learn when called)
    "Clusters": "projection",
    "cluster_embeddings": "projection",
    "embedding_map": "projection",
    "map_coordinates": "projection",
    "reduce_embeddings": "projection",
    "Advice": "curves",
    "CurvePoint": "curves",
    "PowerLaw": "curves",
    "fit_power_law": "curves",
    "learning_advice": "curves",
    "learning_curve": "curves",
}

__all__ = sorted(_EXPORTS)


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
    from apps.ml.curves import (
        Advice,
        CurvePoint,
        PowerLaw,
        fit_power_law,
        learning_advice,
        learning_curve,
    )
    from apps.ml.data_health import (
        DUPLICATE_SIMILARITY,
        DuplicatePair,
        Interval,
        LabelIssue,
        OutlierScorer,
        accuracy_interval,
        cross_validated_probabilities,
        label_issues,
        near_duplicates,
    )
    from apps.ml.embedding import embed, embed_arrays
    from apps.ml.evaluation import evaluate, expected_calibration_error
    from apps.ml.export import export_checked, export_onnx
    from apps.ml.features import load_features
    from apps.ml.finetune import CheckpointError, fit_finetune
    from apps.ml.heads import (
        LinearHead,
        build_classifier,
        head_probabilities,
        load_state,
        save_state,
        state_bytes,
    )
    from apps.ml.images import (
        FORMAT_EXTENSIONS,
        DecodedImage,
        ImageHeader,
        ImageRejected,
        open_image,
        prepare_for_storage,
        read_image_header,
    )
    from apps.ml.inference import Predictor
    from apps.ml.onnx_compose import compose_classifier_onnx
    from apps.ml.preprocessing import preprocess, preprocess_batch, train_transform
    from apps.ml.projection import (
        Clusters,
        cluster_embeddings,
        embedding_map,
        map_coordinates,
        reduce_embeddings,
    )
    from apps.ml.threads import torch_threads
    from apps.ml.training import (
        FinetuneSpec,
        ProgressEvent,
        QuickSpec,
        TrainCancelled,
        TrainResult,
        fit_quick,
    )
