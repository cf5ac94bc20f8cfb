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
    # the export bundle (ONNX Runtime, no torch)
    "ParityImage": "bundle",
    "build_bundle": "bundle",
    "preprocessing_spec": "bundle",
    # INT8 compression (ONNX Runtime's quantizer) and brief timings
    "batched": "quantize",
    "measure_speeds": "quantize",
    "onnx_probabilities": "quantize",
    "quantize_classifier": "quantize",
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
    "FinetuneOutcome": "finetune_outcome",
    "FinetuneResult": "finetune",
    "fit_quick": "training",
    "L2_GRID": "training",
    "L2_SEARCH_MAX_IMAGES": "training",
    "RegularisationChoice": "training",
    "choose_l2": "training",
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
    "nearest_labelled": "neighbours",
    # maps, clusters and learning curves on embeddings (numpy, scikit-learn when called)
    "Clusters": "projection",
    "cluster_embeddings": "projection",
    "cold_start_order": "projection",
    "embedding_map": "projection",
    "map_coordinates": "projection",
    "reduce_embeddings": "projection",
    "Advice": "curves",
    "CurvePoint": "curves",
    "PowerLaw": "curves",
    "fit_power_law": "curves",
    "learning_advice": "curves",
    "learning_curve": "curves",
    # drift on served embeddings (numpy, scipy)
    "DriftProjection": "drift",
    "DriftTest": "drift",
    "DriftVerdict": "drift",
    "confidence_drift": "drift",
    "drift_combine": "drift",
    "drift_reference_sketches": "drift",
    "embedding_drift": "drift",
    "fit_drift_projection": "drift",
    "label_mix_drift": "drift",
    "sketch_to_bytes": "drift",
    "sketches_from_bytes": "drift",
    # comparing versions: data and parameter hashes and diffs, paired statistics (scipy)
    "DifferenceInterval": "comparison",
    "compare_predictions": "comparison",
    "mcnemar_exact": "comparison",
    "paired_difference_interval": "comparison",
    "parameters_diff": "comparison",
    "snapshot_diff": "comparison",
    "snapshot_hash": "comparison",
    "training_hash": "comparison",
    "training_parameters": "comparison",
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
    from apps.ml.bundle import ParityImage, build_bundle, preprocessing_spec
    from apps.ml.comparison import (
        DifferenceInterval,
        compare_predictions,
        mcnemar_exact,
        paired_difference_interval,
        parameters_diff,
        snapshot_diff,
        snapshot_hash,
        training_hash,
        training_parameters,
    )
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
    from apps.ml.drift import (
        DriftProjection,
        DriftTest,
        DriftVerdict,
        confidence_drift,
        drift_combine,
        drift_reference_sketches,
        embedding_drift,
        fit_drift_projection,
        label_mix_drift,
        sketch_to_bytes,
        sketches_from_bytes,
    )
    from apps.ml.embedding import embed, embed_arrays
    from apps.ml.evaluation import evaluate, expected_calibration_error
    from apps.ml.export import export_checked, export_onnx
    from apps.ml.features import load_features
    from apps.ml.finetune import CheckpointError, FinetuneResult, fit_finetune
    from apps.ml.finetune_outcome import FinetuneOutcome
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
    from apps.ml.neighbours import nearest_labelled
    from apps.ml.onnx_compose import compose_classifier_onnx
    from apps.ml.preprocessing import preprocess, preprocess_batch, train_transform
    from apps.ml.projection import (
        Clusters,
        cluster_embeddings,
        cold_start_order,
        embedding_map,
        map_coordinates,
        reduce_embeddings,
    )
    from apps.ml.quantize import (
        batched,
        measure_speeds,
        onnx_probabilities,
        quantize_classifier,
    )
    from apps.ml.threads import torch_threads
    from apps.ml.training import (
        L2_GRID,
        L2_SEARCH_MAX_IMAGES,
        FinetuneSpec,
        ProgressEvent,
        QuickSpec,
        RegularisationChoice,
        TrainCancelled,
        TrainResult,
        choose_l2,
        fit_quick,
    )
