"""Held-out metrics from predicted probabilities (plain numpy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width confidence bins: sum over bins of |accuracy - confidence| x share."""
    if len(y_true) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds confidences in (edges[i], edges[i+1]]; a confidence of exactly 0 goes in bin 0.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def evaluate(
    probs: np.ndarray,
    y_true: np.ndarray,
    *,
    labels: Sequence[str],
    ids: Sequence[Any] | None = None,
) -> dict[str, Any]:
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.int64)
    n, c = len(y_true), len(labels)
    if probs.shape != (n, c):
        raise ValueError(f"Expected probabilities shaped [{n}, {c}], got {list(probs.shape)}.")
    ids = list(ids) if ids is not None else list(range(n))
    predicted = probs.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    confusion = np.zeros((c, c), dtype=np.int64)
    np.add.at(confusion, (y_true, predicted), 1)
    per_class: dict[str, dict[str, float | int]] = {}
    f1s = []
    for k, label in enumerate(labels):
        tp = int(confusion[k, k])
        predicted_k = int(confusion[:, k].sum())
        support = int(confusion[k, :].sum())
        precision = tp / predicted_k if predicted_k else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(precision, 5),
            "recall": round(recall, 5),
            "f1": round(f1, 5),
            "support": support,
        }
        if support:
            f1s.append(f1)
    misclassified = [
        {
            "id": ids[i],
            "true": labels[int(y_true[i])],
            "predicted": labels[int(predicted[i])],
            "confidence": round(float(probs[i, predicted[i]]), 5),
        }
        for i in np.flatnonzero(predicted != y_true)
    ]
    misclassified.sort(key=lambda row: -row["confidence"])
    return {
        "count": n,
        "accuracy": round(float((predicted == y_true).mean()) if n else 0.0, 5),
        "macro_f1": round(float(np.mean(f1s)) if f1s else 0.0, 5),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "ece": round(expected_calibration_error(probs, y_true), 5),
        "misclassified": misclassified,
    }
