"""Nearest labelled neighbours in embedding space (cosine similarity), in blocks of rows so
that memory stays bounded on large sets. numpy only."""

from __future__ import annotations

import numpy as np

# Rows of the similarity matrix computed at once (bounds memory: 256 x 10,000 floats).
BLOCK = 256


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def nearest_labelled(
    *,
    features: np.ndarray,
    labelled: np.ndarray,
    queries: list[int],
    exclude: dict[int, set[int]] | None = None,
    k: int,
) -> dict[int, list[tuple[int, float]]]:
    """For each row index in ``queries``: the ``k`` most similar rows among ``labelled``
    (row indexes), itself and the rows in ``exclude[query]`` left out, as
    ``[(row, cosine similarity)]``, most similar first."""
    exclude = exclude or {}
    out: dict[int, list[tuple[int, float]]] = {}
    labelled = np.asarray(labelled, dtype=np.int64)
    if not queries or len(labelled) == 0:
        return {q: [] for q in queries}
    unit = _unit(features)
    reference = unit[labelled]
    # A query may also be labelled, and may exclude a twin: ask for a few more than k.
    extra = 1 + max((len(rows) for rows in exclude.values()), default=0)
    take = min(k + extra, len(labelled))
    for start in range(0, len(queries), BLOCK):
        block = queries[start : start + BLOCK]
        sims = unit[block] @ reference.T
        top = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        for row, query in enumerate(block):
            order = top[row][np.argsort(-sims[row, top[row]], kind="stable")]
            skip = exclude.get(query, set())
            found: list[tuple[int, float]] = []
            for j in order:
                index = int(labelled[j])
                if index == query or index in skip:
                    continue
                found.append((index, float(sims[row, j])))
                if len(found) == k:
                    break
            out[query] = found
    return out
