"""The evidence beside each flagged image of the fix queue: its nearest labelled images in
embedding space (cosine similarity), so the user sees why a label looks wrong (its
neighbours carry another label) or why an image is a stranger (even its nearest neighbours
are far).

Computed in the health job, where the embeddings are already in memory: one matrix product
of the flagged images against the labelled ones, in blocks. Only ids and similarities are
stored; labels are read when the report is (an image relabelled or deleted since shows as
it is now).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Neighbours kept per flagged image: enough to see a pattern, few enough to show as a row
# of thumbnails.
NEIGHBOURS_K = 5
# Images given neighbours per report (label issues first, then strangers, then duplicates,
# each in the queue's order): 600 x 10,000 x 1,280 multiply-adds is about 0.3 s on 2 cores;
# a queue longer than that is not reviewed one image at a time anyway.
NEIGHBOURS_MAX_IMAGES = 600
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
    k: int = NEIGHBOURS_K,
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


def neighbours_attach(
    *,
    rows: list[tuple[int, int | None, str, str]],
    features: np.ndarray,
    label_issues: list[dict[str, Any]],
    outliers: list[dict[str, Any]],
    near_duplicates: list[dict[str, Any]],
) -> None:
    """Adds ``neighbours: [{"image", "similarity"}]`` to the first items of each list (in
    place; see ``NEIGHBOURS_MAX_IMAGES``). ``rows`` are the report's (id, label id, label,
    split) in the order of ``features``. A duplicate pair's neighbours are those of its first
    image, its twin left out (the twin is already on screen)."""
    position = {row[0]: i for i, row in enumerate(rows)}
    labelled = np.flatnonzero(np.asarray([row[1] is not None for row in rows], dtype=bool))
    wanted: list[tuple[dict[str, Any], int, set[int]]] = []
    for item in label_issues:
        wanted.append((item, position[item["image"]], set()))
    for item in outliers:
        wanted.append((item, position[item["image"]], set()))
    for pair in near_duplicates:
        first, second = (position[i] for i in pair["images"])
        wanted.append((pair, first, {second}))
    # Label issues come first: the queue puts them first, and they need the evidence most.
    wanted = wanted[:NEIGHBOURS_MAX_IMAGES]
    queries = list(dict.fromkeys(index for _, index, _ in wanted))
    # One more than shown: a pair's twin, left out below, may be among them.
    found = nearest_labelled(
        features=features, labelled=labelled, queries=queries, k=NEIGHBOURS_K + 1
    )
    for item, index, skip in wanted:
        item["neighbours"] = [
            {"image": rows[j][0], "similarity": round(similarity, 4)}
            for j, similarity in found[index]
            if j not in skip
        ][:NEIGHBOURS_K]
