"""Frozen-backbone features through ONNX Runtime.

The backbone-only graph is exported once per (backbone, torch version) into an on-disk cache and
opened once per process; every later call only runs the session.
"""

from __future__ import annotations

import importlib.metadata
import threading
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from apps.ml.backbones import BackboneSpec, get_backbone
from apps.ml.files import atomic_write_bytes, cache_dir
from apps.ml.preprocessing import preprocess

# Bump when the exported feature graph changes shape or meaning, so stale cache files are ignored.
_GRAPH_VERSION = 1
_export_lock = threading.Lock()


def feature_graph_path(backbone: str | BackboneSpec = "efficientnet_lite0") -> Path:
    """The cached backbone-only ONNX graph (input "input" [N,3,H,W] -> "features" [N,D]),
    exported on first use."""
    spec = get_backbone(backbone)
    # The installed torch's version, read without importing torch (the web process never does).
    version = importlib.metadata.version("torch").replace("+", "_")
    path = cache_dir() / f"{spec.name}-features-v{_GRAPH_VERSION}-torch{version}.onnx"
    if path.exists():
        return path
    with _export_lock:
        if not path.exists():
            # Imported here, not at the top: the web process embeds nothing and must not
            # load torch; a training worker exports the graph once.
            from apps.ml.export import onnx_bytes
            from apps.ml.features import load_features

            model = load_features(spec)
            atomic_write_bytes(path, onnx_bytes(model, spec=spec, output_name="features"))
    return path


def session_options(threads: int | None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    # One request at a time per session call: parallelism comes from intra-op threads.
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return options


@lru_cache(maxsize=8)
def _feature_session(backbone: str, threads: int | None) -> ort.InferenceSession:
    return ort.InferenceSession(
        str(feature_graph_path(backbone)),
        sess_options=session_options(threads),
        providers=["CPUExecutionProvider"],
    )


def embed_arrays(
    batch: np.ndarray, *, backbone: str = "efficientnet_lite0", threads: int | None = None
) -> np.ndarray:
    """Preprocessed float32 [N, 3, H, W] -> features float32 [N, D]."""
    spec = get_backbone(backbone)
    batch = np.ascontiguousarray(batch, dtype=np.float32)
    expected = (3, spec.input_size, spec.input_size)
    if batch.ndim != 4 or batch.shape[1:] != expected:
        raise ValueError(
            f"Expected a batch shaped [N, {', '.join(map(str, expected))}], got {list(batch.shape)}."
        )
    if len(batch) == 0:
        return np.zeros((0, spec.feature_dim), dtype=np.float32)
    session = _feature_session(spec.name, threads)
    return session.run(None, {"input": batch})[0]


def embed(
    images: Iterable[Image.Image],
    *,
    backbone: str = "efficientnet_lite0",
    batch_size: int = 16,
    threads: int | None = None,
) -> np.ndarray:
    """PIL images -> frozen-backbone features float32 [N, D], ``batch_size`` images at a time
    (bounded memory however many images come)."""
    spec = get_backbone(backbone)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    chunks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    for image in images:
        pending.append(preprocess(image, spec))
        if len(pending) == batch_size:
            chunks.append(embed_arrays(np.stack(pending), backbone=spec.name, threads=threads))
            pending = []
    if pending:
        chunks.append(embed_arrays(np.stack(pending), backbone=spec.name, threads=threads))
    if not chunks:
        return np.zeros((0, spec.feature_dim), dtype=np.float32)
    return np.concatenate(chunks)
