"""A model version's export bundle (``ml.build_bundle``) from its stored files and a few of
its held-out images."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.core.files.storage import default_storage

from apps import ml
from apps.datasets.models import Image
from apps.training.models import ModelVersion

logger = logging.getLogger(__name__)

# Held-out images shipped with their expected probabilities (the parity check).
PARITY_IMAGES = 4


def _read(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def _parity_rows(version: ModelVersion, count: int) -> list[dict[str, Any]]:
    """Up to ``count`` snapshot rows the version was tested on (its test split, else val,
    else any), taking the labels in turn so each is represented."""
    rows = list(version.snapshot or [])
    for split in ("test", "val"):
        held = [row for row in rows if row.get("split") == split]
        if held:
            rows = held
            break
    by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda row: int(row["id"])):
        by_label[str(row.get("label"))].append(row)
    picked: list[dict[str, Any]] = []
    while len(picked) < count and any(by_label.values()):
        for label in sorted(by_label):
            if by_label[label] and len(picked) < count:
                picked.append(by_label[label].pop(0))
    return picked


def parity_images(version: ModelVersion, count: int = PARITY_IMAGES) -> list[ml.ParityImage]:
    """The version's parity images as stored by the platform (the upright RGB copies it
    trained and evaluated on); images deleted since are skipped."""
    rows = _parity_rows(version, count)
    files = dict(
        Image.objects.filter(id__in=[int(row["id"]) for row in rows]).values_list(
            "id", "normalized"
        )
    )
    images = []
    for row in rows:
        name = files.get(int(row["id"]))
        if not name:
            continue
        try:
            data = _read(name)
        except OSError:
            logger.warning("parity image %s of version %s is unreadable", name, version.pk)
            continue
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in str(row["label"]))[:40]
        images.append(ml.ParityImage(name=f"{safe}-{row['id']}.jpg", data=data, label=row["label"]))
    return images


def model_bundle_build(*, version: ModelVersion) -> bytes:
    """The zip a user downloads to run ``version`` off the platform."""
    int8 = _read(version.int8_onnx_file.name) if version.int8_onnx_file.name else None
    metrics = version.metrics or {}
    return ml.build_bundle(
        fp32=_read(version.onnx_file.name or ""),
        int8=int8,
        labels=list(version.labels),
        backbone=version.backbone,
        parity_images=parity_images(version),
        about={
            "project": version.project.name,
            "model_version": version.number,
            "mode": version.mode,
            "accuracy": metrics.get("accuracy"),
            "int8_accuracy": (metrics.get("int8") or {}).get("accuracy") if int8 else None,
        },
    )
