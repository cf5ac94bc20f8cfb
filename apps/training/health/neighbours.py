"""The evidence beside each flagged image of the fix queue: its nearest labelled images in
embedding space (cosine similarity), so the user sees why a label looks wrong (its
neighbours carry another label) or why an image is a stranger (even its nearest neighbours
are far).

Computed in the health job, where the embeddings are already in memory
(``ml.nearest_labelled``: one matrix product of the flagged images against the labelled
ones, in blocks). Only ids and similarities are stored; labels are read when the report is
(an image relabelled or deleted since shows as it is now).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from apps import ml

# Neighbours kept per flagged image: enough to see a pattern, few enough to show as a row
# of thumbnails.
NEIGHBOURS_K = 5
# Images given neighbours per report (label issues first, then strangers, then duplicates,
# each in the queue's order): 600 x 10,000 x 1,280 multiply-adds is about 0.3 s on 2 cores;
# a queue longer than that is not reviewed one image at a time anyway.
NEIGHBOURS_MAX_IMAGES = 600


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
    found = ml.nearest_labelled(
        features=features, labelled=labelled, queries=queries, k=NEIGHBOURS_K + 1
    )
    for item, index, skip in wanted:
        item["neighbours"] = [
            {"image": rows[j][0], "similarity": round(similarity, 4)}
            for j, similarity in found[index]
            if j not in skip
        ][:NEIGHBOURS_K]
