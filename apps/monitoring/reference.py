"""A model version's drift reference, as its drift checks need it: the projection fitted on
the version's stored training embeddings (``ModelVersion.ood_file``, the same file and the
same ``ml.fit_drift_projection`` as serving, so the logged sketches and this reference
agree), the training images' own sketches and the training label mix. Computed once per
version and process (deterministic), kept for the next checks."""

from __future__ import annotations

import functools
import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np

from apps import ml
from apps.training.health.reference import ood_reference_load

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftReference:
    projection: ml.DriftProjection
    sketches: np.ndarray  # [N, k] the training images' sketches


@functools.lru_cache(maxsize=16)
def drift_reference(ood_name: str) -> DriftReference | None:
    """The reference of the version whose ``ood_file`` is ``ood_name`` (None: it has none,
    or the file cannot be read)."""
    from django.core.files.storage import default_storage

    if not ood_name:
        return None
    try:
        with default_storage.open(ood_name, "rb") as handle:
            embeddings = ood_reference_load(handle.read())
        projection = ml.fit_drift_projection(embeddings)
    except Exception:  # noqa: BLE001 - a version without a usable reference is not checked
        logger.exception("could not load the drift reference %s", ood_name)
        return None
    sketches = ml.drift_reference_sketches(projection, embeddings)
    return DriftReference(projection=projection, sketches=sketches)


def training_label_mix(snapshot: list[dict]) -> dict[str, float]:
    """How many training images each label had (the frozen snapshot's "train" rows)."""
    counts = Counter(
        str(row.get("label")) for row in snapshot if row.get("split", "train") == "train"
    )
    return {label: float(count) for label, count in counts.items()}
