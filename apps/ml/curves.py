"""How much more data would help: accuracy against images per class, from cross-validation
on class-stratified subsets of the labelled embeddings, and a power law fitted to it.

Plain numpy (the cross-validation is ``data_health``'s, quick mode's head). For each subset
size the overall accuracy and every class's recall are measured; ``acc = a - b * n^-c`` is
fitted to the overall curve and to each class's recall against that class's image count,
and the advice says how many more images of which class should add how many points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.ml.data_health import accuracy_interval, cross_validated_probabilities

FRACTIONS = (0.25, 0.5, 0.75, 1.0)
# Exponents tried for the power law (closed-form least squares for a and b at each one):
# a grid is robust on 4 noisy points where a free 3-parameter fit wanders off.
EXPONENTS = tuple(np.round(np.arange(0.1, 2.01, 0.05), 3))
# "About N more images": the round figure nearest half the class's current count.
ROUND_COUNTS = (10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000)


@dataclass(frozen=True)
class CurvePoint:
    per_class: float  # mean images per class in the subset
    images: int
    accuracy: float
    low: float
    high: float
    class_counts: tuple[int, ...]  # images of each class in the subset
    recall: tuple[float | None, ...]  # per class (None: class absent from the subset)


@dataclass(frozen=True)
class PowerLaw:
    a: float
    b: float
    c: float

    def __call__(self, n: float | np.ndarray) -> float | np.ndarray:
        return self.a - self.b * np.power(np.maximum(n, 1e-9), -self.c)


def fit_power_law(n: np.ndarray, value: np.ndarray) -> PowerLaw:
    """Least-squares ``value = a - b * n^-c`` with b >= 0 and a <= 1 (an accuracy)."""
    n = np.asarray(n, dtype=np.float64)
    y = np.asarray(value, dtype=np.float64)
    keep = (n > 0) & np.isfinite(y)
    n, y = n[keep], y[keep]
    if len(n) == 0:
        return PowerLaw(0.0, 0.0, 0.5)
    if len(np.unique(n)) < 2:
        return PowerLaw(float(y.mean()), 0.0, 0.5)
    best: tuple[float, PowerLaw] | None = None
    for c in EXPONENTS:
        t = np.power(n, -float(c))
        design = np.stack([np.ones_like(t), -t], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, y, rcond=None)
        if b < 0:  # the data does not improve with n: a flat line
            a, b = float(y.mean()), 0.0
        if a > 1.0:  # never promise more than 100 %: fix a = 1, fit b alone
            a = 1.0
            b = max(0.0, float(np.dot(t, 1.0 - y) / max(np.dot(t, t), 1e-12)))
        law = PowerLaw(float(a), float(b), float(c))
        error = float(np.square(law(n) - y).sum())
        if best is None or error < best[0] - 1e-12:
            best = (error, law)
    assert best is not None
    return best[1]


def _subset(labels: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Row indexes of a class-stratified subset: ``fraction`` of each class (at least 2)."""
    rows = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        take = min(len(members), max(2, round(fraction * len(members))))
        rows.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(rows))


def learning_curve(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    fractions: tuple[float, ...] = FRACTIONS,
    folds: int = 5,
    repeats: int = 1,
    seed: int = 0,
) -> list[CurvePoint]:
    """Cross-validated accuracy and per-class recall on growing stratified subsets
    (``repeats`` subsets per size, pooled: more repeats, a smoother curve)."""
    x = np.asarray(features, dtype=np.float32)
    y = np.asarray(labels, dtype=np.int64)
    if len(x) != len(y):
        raise ValueError(f"Got {len(x)} feature rows but {len(y)} labels.")
    rng = np.random.default_rng(seed)
    points = []
    for fraction in sorted(set(fractions)):
        repeat_count = 1 if fraction >= 1.0 else max(1, repeats)
        correct = total = 0
        hits = np.zeros(num_classes)
        seen = np.zeros(num_classes)
        counts = np.zeros(num_classes)
        for r in range(repeat_count):
            rows = _subset(y, fraction, rng) if fraction < 1.0 else np.arange(len(y))
            sub_y = y[rows]
            probs = cross_validated_probabilities(
                x[rows], sub_y, num_classes=num_classes, folds=folds, seed=seed + r
            )
            right = probs.argmax(axis=1) == sub_y
            correct += int(right.sum())
            total += len(rows)
            np.add.at(hits, sub_y, right)
            np.add.at(seen, sub_y, 1)
            counts += np.bincount(sub_y, minlength=num_classes)
        interval = accuracy_interval(correct, total)
        present = int((counts > 0).sum()) or 1
        points.append(
            CurvePoint(
                per_class=round(float(counts.sum() / repeat_count / present), 2),
                images=round(total / repeat_count),
                accuracy=interval.value,
                low=interval.low,
                high=interval.high,
                class_counts=tuple(int(round(c / repeat_count)) for c in counts),
                recall=tuple(
                    float(hits[k] / seen[k]) if seen[k] else None for k in range(num_classes)
                ),
            )
        )
    return points


@dataclass(frozen=True)
class Advice:
    label: int
    more_images: int
    expected_gain_points: float  # overall accuracy, in percentage points
    recall_now: float
    recall_then: float


def round_count(value: float) -> int:
    return min(ROUND_COUNTS, key=lambda count: abs(count - value))


def learning_advice(points: list[CurvePoint]) -> tuple[PowerLaw, list[Advice]]:
    """The overall curve's power law, and for each class how many more images (about half
    again its current count, rounded) should add how many points of overall accuracy: its
    share of the images times the gain its recall curve predicts. Largest gain first."""
    if not points:
        return PowerLaw(0.0, 0.0, 0.5), []
    overall = fit_power_law(
        np.array([p.per_class for p in points]), np.array([p.accuracy for p in points])
    )
    full = max(points, key=lambda p: p.images)
    total = max(1, sum(full.class_counts))
    advice = []
    for k, count in enumerate(full.class_counts):
        usable = [p for p in points if p.recall[k] is not None and p.class_counts[k] > 0]
        if count == 0 or len(usable) < 2:
            continue
        law = fit_power_law(
            np.array([p.class_counts[k] for p in usable]),
            np.array([p.recall[k] for p in usable]),
        )
        more = round_count(max(10.0, count / 2))
        now = float(np.clip(law(count), 0.0, 1.0))
        then = float(np.clip(law(count + more), 0.0, 1.0))
        # The class's weight in accuracy once the images are added.
        share = (count + more) / (total + more)
        advice.append(
            Advice(
                label=k,
                more_images=more,
                expected_gain_points=round(max(0.0, then - now) * share * 100, 1),
                recall_now=round(now, 4),
                recall_then=round(then, 4),
            )
        )
    advice.sort(key=lambda a: (-a.expected_gain_points, a.label))
    return overall, advice
