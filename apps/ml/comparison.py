"""Comparing two model versions: what data and parameters they were trained with, and how
their predictions on the same held-out images differ (plain Python, numpy and scipy).

- ``snapshot_hash`` / ``training_hash``: content hashes of a version's data snapshot and of
  the snapshot together with every training parameter;
- ``training_parameters``: the parameters a training mode uses (its specs' fields);
- ``snapshot_diff`` / ``parameters_diff``: what changed between two versions' data and
  parameters;
- ``mcnemar_exact``: McNemar's exact test on paired right/wrong answers;
- ``paired_difference_interval``: Newcombe's score interval for a difference of paired
  proportions (one label's recall under model a and model b on the same images);
- ``compare_predictions``: the whole model diff on the images both versions were tested on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from apps.ml.data_health import accuracy_interval

Z95 = 1.959964


# --- Data and parameters -------------------------------------------------------------------


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def snapshot_hash(rows: Sequence[Mapping[str, Any]]) -> str:
    """SHA-256 of the snapshot's (image id, label, split) rows, in id order: the same images
    with the same labels and splits hash the same, however the rows were ordered. (An
    image's id names its content: an image's file never changes once stored.)"""
    ordered = sorted(
        (int(row["id"]), str(row.get("label") or ""), str(row.get("split") or "")) for row in rows
    )
    return hashlib.sha256(_canonical(ordered)).hexdigest()


def training_hash(data_hash: str, parameters: Mapping[str, Any]) -> str:
    """SHA-256 of a snapshot's hash and the training parameters: equal for two versions
    trained on the same data in the same way."""
    return hashlib.sha256(_canonical({"data": data_hash, "parameters": parameters})).hexdigest()


# Spec fields that say where or how fast training ran, not what it learned.
_RUNTIME_FIELDS = frozenset({"labels", "device", "num_workers"})


def training_parameters(
    *,
    mode: str,
    backbone: str,
    labels: Sequence[str],
    quick: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The parameters a version of ``mode`` is trained with: the fields of the specs the
    training runner builds (``QuickSpec`` for quick mode and for fine-tuning's starting
    head, ``FinetuneSpec`` for fine-tuning), flattened to ``{"quick.l2": 0.03, ...}``.
    ``quick`` overrides QuickSpec fields the run chose itself (the cross-validated ``l2``).

    The specs are read through ``apps.ml``'s namespace, as the runner builds them, so what
    is recorded is what it used."""
    from apps import ml  # torch (the specs' module): training workers only

    specs: list[tuple[str, Any]] = [
        ("quick", ml.QuickSpec(backbone=backbone, labels=tuple(labels), **dict(quick or {})))
    ]
    if mode == "finetune":
        specs.append(("finetune", ml.FinetuneSpec(backbone=backbone, labels=tuple(labels))))
    parameters: dict[str, Any] = {"mode": mode, "backbone": backbone}
    for prefix, spec in specs:
        for spec_field in dataclasses.fields(spec):
            if spec_field.name not in _RUNTIME_FIELDS and spec_field.name != "backbone":
                parameters[f"{prefix}.{spec_field.name}"] = getattr(spec, spec_field.name)
    return parameters


def snapshot_diff(
    a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]
) -> dict[str, list[Any]]:
    """What changed from snapshot ``a`` to snapshot ``b``: images ``added`` and ``removed``
    (ids), ``relabelled`` and ``moved`` between splits (``{"image", "from", "to"}``), each
    in image id order."""
    rows_a = {int(row["id"]): row for row in a}
    rows_b = {int(row["id"]): row for row in b}
    relabelled, moved = [], []
    for image in sorted(rows_a.keys() & rows_b.keys()):
        old, new = rows_a[image], rows_b[image]
        if (old.get("label") or "") != (new.get("label") or ""):
            relabelled.append({"image": image, "from": old.get("label"), "to": new.get("label")})
        if (old.get("split") or "") != (new.get("split") or ""):
            moved.append({"image": image, "from": old.get("split"), "to": new.get("split")})
    return {
        "added": sorted(rows_b.keys() - rows_a.keys()),
        "removed": sorted(rows_a.keys() - rows_b.keys()),
        "relabelled": relabelled,
        "moved": moved,
    }


def parameters_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The parameters whose value differs (``{"name", "a", "b"}``, None where one side has
    no such parameter), by name."""
    return [
        {"name": name, "a": a.get(name), "b": b.get(name)}
        for name in sorted(a.keys() | b.keys())
        if a.get(name) != b.get(name)
    ]


# --- Statistics on paired answers ----------------------------------------------------------


def mcnemar_exact(only_a_right: int, only_b_right: int) -> float:
    """Two-sided p-value of McNemar's exact test: under "the two models are equally good",
    each image exactly one of them gets right is as likely to be a's as b's, so the split of
    those discordant images is Binomial(n, 1/2). 1.0 when no image is discordant."""
    discordant = only_a_right + only_b_right
    if discordant == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(only_b_right, discordant, 0.5).pvalue)


@dataclass(frozen=True)
class DifferenceInterval:
    """``b - a`` of two paired proportions with its interval."""

    delta: float
    low: float
    high: float
    pairs: int


def paired_difference_interval(
    both: int, only_a: int, only_b: int, neither: int, *, z: float = Z95
) -> DifferenceInterval:
    """Newcombe's hybrid score interval (1998, method 10) for ``p_b - p_a`` where both
    proportions are measured on the same items: ``both`` items count for a and b, ``only_a``
    for a alone, ``only_b`` for b alone, ``neither`` for none.

    Wilson intervals of each proportion, combined with the correlation of the pairs: unlike
    the Wald interval it stays inside [-1, 1] and keeps its coverage for small test splits
    and recalls near 100 %, which is where most projects' labels live."""
    n = both + only_a + only_b + neither
    if n == 0:
        return DifferenceInterval(delta=0.0, low=-1.0, high=1.0, pairs=0)
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    a_int = accuracy_interval(both + only_a, n, z=z)
    b_int = accuracy_interval(both + only_b, n, z=z)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    # The pairs' correlation, shrunk towards 0 when positive (Newcombe's correction, as in
    # Altman et al., "Statistics with confidence"): a positive correlation narrows the
    # interval, and the uncorrected one narrows it too much on small tables.
    cross = both * neither - only_a * only_b
    if not margins or 0 <= cross <= n / 2:
        phi = 0.0
    elif cross > n / 2:
        phi = (cross - n / 2) / math.sqrt(margins)
    else:
        phi = cross / math.sqrt(margins)
    delta = p_b - p_a
    # Lower bound: b as low as it plausibly is, a as high; the upper bound the other way.
    lower = math.sqrt(
        max(
            (p_b - b_int.low) ** 2
            - 2 * phi * (p_b - b_int.low) * (a_int.high - p_a)
            + (a_int.high - p_a) ** 2,
            0.0,
        )
    )
    upper = math.sqrt(
        max(
            (b_int.high - p_b) ** 2
            - 2 * phi * (b_int.high - p_b) * (p_a - a_int.low)
            + (p_a - a_int.low) ** 2,
            0.0,
        )
    )
    return DifferenceInterval(
        delta=delta, low=max(-1.0, delta - lower), high=min(1.0, delta + upper), pairs=n
    )


# --- The model diff ------------------------------------------------------------------------


def _summary(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict:
    n = len(truth)
    correct = sum(t == p for t, p in zip(truth, predicted, strict=True))
    f1s = []
    for label in labels:
        tp = sum(t == label and p == label for t, p in zip(truth, predicted, strict=True))
        support = sum(t == label for t in truth)
        predicted_as = sum(p == label for p in predicted)
        if not support:
            continue
        precision = tp / predicted_as if predicted_as else 0.0
        recall = tp / support
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    interval = accuracy_interval(correct, n)
    return {
        "accuracy": round(correct / n, 5) if n else 0.0,
        "accuracy_low": round(interval.low, 5),
        "accuracy_high": round(interval.high, 5),
        "macro_f1": round(sum(f1s) / len(f1s), 5) if f1s else 0.0,
        "correct": correct,
    }


def _confusion(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> list:
    index = {label: k for k, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t]][index[p]] += 1
    return matrix


def compare_predictions(
    images: Sequence[int],
    truth: Sequence[str],
    predicted_a: Sequence[str],
    predicted_b: Sequence[str],
) -> dict[str, Any]:
    """Model a against model b on the same ``images`` (their true labels, and each model's
    predicted label for each). Returns ``{"images", "labels", "a": {"accuracy",
    "accuracy_low", "accuracy_high", "macro_f1", "correct", "confusion_matrix"}, "b": {...},
    "per_label": [{"label", "images", "a_recall", "b_recall", "delta", "low", "high"}],
    "mcnemar_p", "fixed": [ids a got wrong and b right], "broken": [the reverse]}``; the
    confusion matrices' rows are the true labels, columns the predicted ones, both in
    ``labels`` order (every label either side uses)."""
    if not len(images) == len(truth) == len(predicted_a) == len(predicted_b):
        raise ValueError("images, truth and both models' predictions must be equally long.")
    labels = sorted(set(truth) | set(predicted_a) | set(predicted_b))
    right_a = [t == p for t, p in zip(truth, predicted_a, strict=True)]
    right_b = [t == p for t, p in zip(truth, predicted_b, strict=True)]
    fixed = sorted(i for i, ra, rb in zip(images, right_a, right_b, strict=True) if rb and not ra)
    broken = sorted(i for i, ra, rb in zip(images, right_a, right_b, strict=True) if ra and not rb)
    per_label = []
    for label in sorted(set(truth)):
        cells = [0, 0, 0, 0]  # both right, only a, only b, neither
        for t, ra, rb in zip(truth, right_a, right_b, strict=True):
            if t == label:
                cells[(0 if rb else 1) if ra else (2 if rb else 3)] += 1
        both, only_a, only_b, neither = cells
        n = sum(cells)
        interval = paired_difference_interval(both, only_a, only_b, neither)
        per_label.append(
            {
                "label": label,
                "images": n,
                "a_recall": round((both + only_a) / n, 5),
                "b_recall": round((both + only_b) / n, 5),
                "delta": round(interval.delta, 5),
                "low": round(interval.low, 5),
                "high": round(interval.high, 5),
            }
        )
    return {
        "images": len(images),
        "labels": labels,
        "a": {
            **_summary(truth, predicted_a, labels),
            "confusion_matrix": _confusion(truth, predicted_a, labels),
        },
        "b": {
            **_summary(truth, predicted_b, labels),
            "confusion_matrix": _confusion(truth, predicted_b, labels),
        },
        "per_label": per_label,
        "mcnemar_p": round(mcnemar_exact(len(broken), len(fixed)), 6),
        "fixed": fixed,
        "broken": broken,
    }
