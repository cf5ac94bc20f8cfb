"""The train / validation / test split of a project's labeled images."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.datasets.models import Image, Split

# Default shares of each label's images per split. An image keeps its split once it has
# one (see images_assign_splits).
SPLIT_TARGETS: tuple[tuple[str, float], ...] = (
    (Split.TRAIN, 0.8),
    (Split.VAL, 0.1),
    (Split.TEST, 0.1),
)


def split_clean(split: Any) -> str:
    """A split as stored ("" for none); anything but train, val or test is a 400."""
    if split in (None, ""):
        return ""
    if split not in Split.values:
        raise ApplicationError("The split must be one of train, val or test.", code="invalid_split")
    return str(split)


def _split_pick(counts: dict[str, int], sha256: str) -> str:
    """The split furthest below its target share once this image is added; ties are
    broken by the image's hash, so the choice does not depend on anything else."""
    total = sum(counts.values()) + 1
    deficits = [(target * total - counts[name], name) for name, target in SPLIT_TARGETS]
    best = max(d for d, _ in deficits)
    tied = [name for d, name in deficits if best - d < 1e-9]
    if len(tied) == 1:
        return tied[0]
    return tied[int(sha256[:8] or "0", 16) % len(tied)]


def images_assign_splits(*, project_id: int) -> int:
    """Give every labeled image without a split one, stratified per label (default
    80/10/10), greedily: each, in upload order, goes to the split most below its target for
    its label. An image that has a split keeps it: adding images never moves the old ones,
    so a test set stays a test set; a relabeled image keeps its split too (the shares drift
    a little, and the next images fill the gap). Only a user (PATCH) moves an image.

    Three queries plus one UPDATE per split. Returns how many images got a split."""
    with transaction.atomic():
        pending = list(
            Image.objects.filter(project_id=project_id, split="", label__isnull=False)
            .order_by("id")
            .values_list("id", "label_id", "sha256")
        )
        if not pending:
            return 0
        counts: dict[int, dict[str, int]] = defaultdict(
            lambda: {name: 0 for name, _ in SPLIT_TARGETS}
        )
        existing = (
            Image.objects.filter(project_id=project_id, label__isnull=False)
            .exclude(split="")
            .order_by()
            .values_list("label_id", "split")
            .annotate(n=Count("id"))
        )
        for label_id, split, n in existing:
            counts[label_id][split] += n
        chosen: dict[str, list[int]] = defaultdict(list)
        for image_id, label_id, sha256 in pending:
            split = _split_pick(counts[label_id], sha256)
            counts[label_id][split] += 1
            chosen[split].append(image_id)
        now = timezone.now()
        for split, ids in chosen.items():
            for start in range(0, len(ids), 900):
                # split="" again: a concurrent writer's choice is not overwritten.
                Image.objects.filter(id__in=ids[start : start + 900], split="").update(
                    split=split, updated_at=now
                )
    return len(pending)
