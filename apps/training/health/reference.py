"""The out-of-distribution reference a quick-mode model version carries: the L2-normalised
embeddings of the images it was trained on, float16, as one ``.npy`` file (2.5 KB per
image at 1,280 dimensions). Serving builds an ``ml.OutlierScorer`` on it once per loaded
model and scores each request's embedding (the served graph's "features" output)."""

from __future__ import annotations

import io

import numpy as np

OOD_FILENAME = "ood.npy"
# At most this many training embeddings are kept (a random sample): each request is scored
# against all of them, 1 x 2,000 x 1,280 multiply-adds (about 0.3 ms of CPU), and the k
# nearest of 2,000 describe the training set about as well as those of 20,000.
OOD_REFERENCE_MAX = 2000


def ood_reference_bytes(features: np.ndarray) -> bytes:
    """``features`` [N, D] -> the stored reference (unit rows, float16, ``np.save``; a
    random ``OOD_REFERENCE_MAX`` of them when there are more)."""
    x = np.asarray(features, dtype=np.float32)
    if len(x) > OOD_REFERENCE_MAX:
        rows = np.random.default_rng(0).choice(len(x), OOD_REFERENCE_MAX, replace=False)
        x = x[np.sort(rows)]
    x = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    buffer = io.BytesIO()
    np.save(buffer, x.astype(np.float16), allow_pickle=False)
    return buffer.getvalue()


def ood_reference_load(data: bytes) -> np.ndarray:
    """The stored reference as float32 [N, D] (never unpickles)."""
    return np.load(io.BytesIO(data), allow_pickle=False).astype(np.float32)
