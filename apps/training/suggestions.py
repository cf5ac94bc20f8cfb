"""The "label next" queue (``GET /api/v1/projects/{id}/suggestions/``): which unlabelled
images a person should label next so that the model learns the most from each label.

* Before any model, and until the project has as many labelled images as there are groups
  of unlabelled images, the most typical image of each group (the k-means clusters the
  embedding map shows), largest group first (``ml.cold_start_order``): a first head needs
  images that stand for many others and that cover every kind of image.
* Then the model's least sure first (smallest margin between its two best labels), never
  two near-duplicates of each other, and about ``RANDOM_SHARE`` picked at random.

Measured by ``bench.bench_active_learning``: labels needed to reach 95 % of the full-data
accuracy against labelling at random.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from apps import ml
from apps.datasets.models import Image
from apps.projects.models import Project
from apps.training.health.selectors import health_report_ready
from apps.training.insights import clusters_get

# Share of the suggestions picked at random among the unlabelled images: a queue ordered by
# the model's doubt alone never shows the model where it is confidently wrong.
RANDOM_SHARE = 0.1
SUGGESTIONS_MAX = 200


def _typical(clusters: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    if count <= 0:
        return []
    sizes = {image: c["size"] for c in clusters for image in c["sample"]}
    order = ml.cold_start_order([c["sample"] for c in clusters], limit=count)
    return [
        {
            "image": image,
            "predicted": None,
            "confidence": None,
            "reason": "typical",
            "group_size": sizes[image],
        }
        for image in order
    ]


def suggestions_list(
    *, project: Project, limit: int = 20, rng: random.Random | None = None
) -> list[dict[str, Any]]:
    """Unlabelled images to label next, in the order of the module's docstring."""
    limit = max(1, min(int(limit), SUGGESTIONS_MAX))
    ready = health_report_ready(project=project)
    has_model = ready is not None and bool(ready.predictions)
    # One read of the groups (their k-means is cached; the rows behind them are not).
    clusters = clusters_get(project=project)["clusters"]
    if has_model:
        labelled = Image.objects.filter(project=project, label__isnull=False).count()
        typical = _typical(clusters, min(limit, max(0, len(clusters) - labelled)))
    else:
        typical = _typical(clusters, limit)
    chosen: list[dict[str, Any]] = list(typical)
    if not has_model or len(chosen) >= limit:
        return chosen[:limit]
    assert ready is not None
    taken: set[int] = {row["image"] for row in chosen}
    unlabelled = set(
        Image.objects.filter(project=project, label__isnull=True).values_list("id", flat=True)
    )
    candidates = [row for row in ready.predictions if row[0] in unlabelled and row[0] not in taken]
    candidates.sort(key=lambda row: (row[3], row[0]))
    twins: dict[int, set[int]] = defaultdict(set)
    for pair in ready.near_duplicates:
        a, b = pair["images"]
        twins[a].add(b)
        twins[b].add(a)
    random_count = int(limit * RANDOM_SHARE + 0.5) if limit >= 5 else 0

    def take(row: list[Any], reason: str) -> None:
        chosen.append(
            {"image": row[0], "predicted": row[1], "confidence": row[2], "reason": reason}
        )
        taken.add(row[0])

    rest = []
    for row in candidates:
        if twins[row[0]] & taken:
            continue
        if len(chosen) < limit - random_count:
            take(row, "uncertain")
        else:
            rest.append(row)
    rng = rng or random.Random()
    rng.shuffle(rest)
    for row in rest:
        if len(chosen) >= limit:
            break
        if not twins[row[0]] & taken:
            take(row, "random")
    return chosen
