"""What is wrong with a labelled data set, read from its frozen-backbone embeddings.

Plain numpy / scikit-learn / cleanlab, no Django: every function takes arrays and returns
arrays or small dataclasses, so the analysis is testable with synthetic vectors and runs in
seconds for tens of thousands of images once the embeddings are cached.

* ``cross_validated_probabilities``: out-of-sample class probabilities for every labelled
  image (k-fold, the same linear head quick mode ships), the input of everything below.
* ``accuracy_interval``: a Wilson 95 % interval, so a score always says how much backs it.
* ``label_issues``: confident learning (cleanlab) on those probabilities.
* ``near_duplicates``: pairs of images whose embeddings are almost the same direction.
* ``OutlierScorer``: distance to the k nearest training embeddings, with a threshold
  calibrated on the training set itself (leave-one-out), for strangers in the data set and
  out-of-distribution requests at serving time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# Two images whose centred embeddings (the set's mean subtracted) reach this cosine
# similarity are taken for the same photo, resized, re-encoded or slightly cropped. Measured
# on hymenoptera (bench.bench_health): such copies sit at 0.73 and above, distinct photos at
# 0.68 and below. Centring spreads distinct photos apart (raw cosine: copies 0.82+, distinct
# up to 0.80), because every backbone feature vector shares a large common component.
DUPLICATE_SIMILARITY = 0.70


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float
    images: int


def accuracy_interval(correct: int, total: int, *, z: float = 1.959964) -> Interval:
    """Accuracy with its Wilson score interval (95 % by default).

    Wilson rather than the normal approximation: it stays inside [0, 1] and is honest for
    small test splits and accuracies near 100 %, which is where most projects live.
    """
    if total <= 0:
        return Interval(value=0.0, low=0.0, high=1.0, images=0)
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return Interval(
        value=p, low=max(0.0, centre - half), high=min(1.0, centre + half), images=total
    )


def _fold_ids(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Stratified fold index per sample; classes smaller than ``folds`` spread as they can."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        # Continue the round-robin where the previous class ended, so small classes do not
        # all land in fold 0.
        fold[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    return fold


def fit_softmax(
    x: Any,
    y: Any,
    *,
    num_classes: int,
    l2: float,
    init: tuple[Any, Any] | None = None,
    max_iter: int = 100,
    class_weighted: bool = True,
) -> tuple[Any, Any]:
    """Quick mode's objective, solved to convergence: class-weighted cross-entropy plus
    ``l2 * |W|^2`` on a linear head. The objective is strictly convex, so L-BFGS reaches the
    same optimum as quick mode's AdamW steps in a fraction of the passes over the features,
    and a fold warm-started from the all-data solution needs fewer still."""
    import torch

    weight = None
    if class_weighted:
        counts = torch.bincount(y, minlength=num_classes).float()
        weight = torch.where(counts > 0, len(y) / (num_classes * counts.clamp(min=1)), 0.0)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    if init is None:
        w = torch.zeros(x.shape[1], num_classes)
        b = torch.zeros(num_classes)
    else:
        w, b = (t.detach().clone() for t in init)
    w.requires_grad_(True)
    b.requires_grad_(True)
    optimiser = torch.optim.LBFGS(
        [w, b], lr=1.0, max_iter=max_iter, history_size=10, line_search_fn="strong_wolfe"
    )

    def closure() -> Any:
        optimiser.zero_grad(set_to_none=True)
        loss = loss_fn(x @ w + b, y) + l2 * w.square().sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return w.detach(), b.detach()


def row_space(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(Z, Vt)`` with ``X = Z @ Vt`` and Z as narrow as X has rows, when that is narrower.

    With the penalty on |W|^2, the optimal W lies in the span of the rows (any component
    outside it changes no logit and only adds to the penalty), so fitting on Z = U S gives
    the same logits and the same optimum, W = Vt.T @ B with |W| = |B|, at a fraction of the
    cost when there are fewer images than feature dimensions (a few hundred against 1280).
    ``Vt`` is None when nothing is gained (Z is X itself)."""
    if x.shape[0] >= x.shape[1]:
        return x, None
    # Through the N x N Gram matrix (X X^T = U S^2 U^T): a fraction of a full SVD's work.
    x64 = np.asarray(x, dtype=np.float64)
    eigenvalues, u = np.linalg.eigh(x64 @ x64.T)
    keep = eigenvalues > max(float(eigenvalues.max()), 0.0) * 1e-10
    if not keep.any():
        return x, None
    s, u = np.sqrt(eigenvalues[keep]), u[:, keep]
    vt = (u / s).T @ x64
    return np.ascontiguousarray(u * s, dtype=np.float32), vt.astype(np.float32)


def cross_validated_probabilities(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    folds: int = 5,
    seed: int = 0,
    l2: float = 0.03,
) -> np.ndarray:
    """Out-of-sample probabilities [N, C]: each image is scored by a head that never saw it.

    The head is quick mode's (linear, class-weighted cross-entropy, the same L2 penalty), so
    the figures describe the model that ships. A class absent from a training fold simply
    gets the probability that fold's head gives it.
    """
    return cross_validated_penalties(
        features, labels, num_classes=num_classes, penalties=(l2,), folds=folds, seed=seed
    )[0]


def _cv_fits(
    x: Any, y: Any, num_classes: int, folds: int, seed: int, l2: float, init: list | None
) -> tuple[np.ndarray, list]:
    """Out-of-sample probabilities on prepared (centred, row-space) features, and the
    solutions (all data, then each fold) that a fit at a nearby penalty can start from."""
    import torch

    y_np = y.numpy()
    folds = max(2, min(folds, len(y_np)))
    fold = _fold_ids(y_np, folds, seed)
    probs = np.zeros((len(y_np), num_classes), dtype=np.float32)
    everything = fit_softmax(x, y, num_classes=num_classes, l2=l2, init=init[0] if init else None)
    solutions = [everything]
    for k in range(folds):
        held_out = torch.from_numpy(fold == k)
        if not bool(held_out.any()):
            solutions.append(everything)
            continue
        start = init[k + 1] if init else everything
        w, b = fit_softmax(x[~held_out], y[~held_out], num_classes=num_classes, l2=l2, init=start)
        solutions.append((w, b))
        with torch.inference_mode():
            probs[held_out.numpy()] = torch.softmax(x[held_out] @ w + b, dim=1).numpy()
    return probs, solutions


def cross_validated_penalties(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    penalties: tuple[float, ...],
    folds: int = 5,
    seed: int = 0,
) -> list[np.ndarray]:
    """``cross_validated_probabilities`` at each of ``penalties`` (in that order), sharing
    the preparation and starting each penalty's fits from the previous one's solutions:
    neighbouring penalties have neighbouring optima, so a path of fits costs a fraction of
    independent ones."""
    # torch only here: serving imports this module for OutlierScorer and must stay torch-free.
    import torch

    x_np = np.ascontiguousarray(features, dtype=np.float32)
    y_np = np.asarray(labels, dtype=np.int64)
    if len(x_np) != len(y_np):
        raise ValueError(f"Got {len(x_np)} feature rows but {len(y_np)} labels.")
    if num_classes < 2:
        raise ValueError("Cross-validation needs at least 2 classes.")
    if len(y_np) and (y_np.min() < 0 or y_np.max() >= num_classes):
        raise ValueError(f"Labels must lie in 0..{num_classes - 1}.")
    # Centring the features changes nothing but the bias (x·W + b = (x - m)·W + (b + m·W), and
    # the penalty is on W alone), so the optimum is the same; it makes the problem far
    # better conditioned, and L-BFGS needs about a third of the passes over the data.
    x_np, _ = row_space(x_np - x_np.mean(axis=0, keepdims=True))
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    results: list[np.ndarray] = []
    previous: list | None = None
    for l2 in penalties:
        probs, previous = _cv_fits(x, y, num_classes, folds, seed, l2, previous)
        results.append(probs)
    return results


@dataclass(frozen=True)
class LabelIssue:
    index: int
    label: int
    suggested: int
    score: float  # 0..1, higher: more likely the given label is wrong


def label_issues(labels: np.ndarray, probs: np.ndarray) -> list[LabelIssue]:
    """Images whose given label confident learning finds likely wrong, most likely first.

    cleanlab's ``find_label_issues`` (prune by noise rate) decides which; the score is one
    minus cleanlab's self-confidence label-quality score; the suggestion is the most probable
    other class.
    """
    # cleanlab pulls in pandas: loaded by the workers that analyse, never by the web process.
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if len(y) == 0:
        return []
    # cleanlab wants every class present in the labels; a project can have a label that no
    # labelled image carries yet, so analyse the classes that do occur.
    present = np.unique(y)
    if len(present) < 2:
        return []
    remap = {int(c): i for i, c in enumerate(present)}
    y_local = np.array([remap[int(v)] for v in y], dtype=np.int64)
    p_local = p[:, present]
    p_local = p_local / np.clip(p_local.sum(axis=1, keepdims=True), 1e-12, None)
    flagged = find_label_issues(y_local, p_local, filter_by="prune_by_noise_rate", n_jobs=1)
    quality = get_label_quality_scores(y_local, p_local, method="self_confidence")
    issues = []
    for index in np.flatnonzero(flagged):
        others = p[index].copy()
        others[y[index]] = -1.0
        issues.append(
            LabelIssue(
                index=int(index),
                label=int(y[index]),
                suggested=int(others.argmax()),
                score=round(float(1.0 - quality[index]), 5),
            )
        )
    issues.sort(key=lambda issue: -issue.score)
    return issues


def _unit(features: np.ndarray) -> np.ndarray:
    x = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.clip(norms, 1e-12, None)


@dataclass(frozen=True)
class DuplicatePair:
    first: int
    second: int
    similarity: float


def near_duplicates(
    features: np.ndarray, *, threshold: float = DUPLICATE_SIMILARITY, block: int = 2048
) -> list[DuplicatePair]:
    """Every pair (i < j) whose centred embeddings' cosine similarity is at least ``threshold``.

    Exact, in blocks of ``block`` rows against the rest, so memory stays at block x N floats;
    10,000 images of 1,280 dimensions take about a second on 2 cores (a BLAS matrix product),
    which beats building an approximate index at this size.
    """
    raw = np.asarray(features, dtype=np.float32)
    x = _unit(raw - raw.mean(axis=0, keepdims=True)) if len(raw) else raw
    n = len(x)
    pairs: list[DuplicatePair] = []
    for start in range(0, n, block):
        stop = min(n, start + block)
        sims = x[start:stop] @ x[start:].T  # rows start..stop against columns start..n
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            i, j = start + r, start + c
            if j > i:
                pairs.append(
                    DuplicatePair(first=i, second=j, similarity=round(float(sims[r, c]), 5))
                )
    pairs.sort(key=lambda pair: -pair.similarity)
    return pairs


class OutlierScorer:
    """How far an embedding lies from the training set: the mean cosine distance to its
    ``k`` nearest training embeddings.

    The threshold is the ``quantile`` of the same score over the training images themselves,
    each scored against the others (leave one out), so about ``1 - quantile`` of ordinary
    images are flagged and the figure adapts to each project's spread.
    """

    # Leave-one-out scores of this many reference images (a random sample) set the threshold:
    # a quantile needs a sample, not all N x N similarities.
    CALIBRATION_SAMPLE = 2000

    def __init__(
        self,
        reference: np.ndarray,
        *,
        k: int = 5,
        quantile: float = 0.98,
        block: int = 2048,
        seed: int = 0,
    ) -> None:
        self.reference = _unit(reference)
        if len(self.reference) < 2:
            raise ValueError("Outlier scores need at least 2 reference embeddings.")
        self.k = max(1, min(k, len(self.reference) - 1))
        self.block = block
        sample = self.reference
        if len(sample) > self.CALIBRATION_SAMPLE:
            rows = np.random.default_rng(seed).choice(
                len(sample), self.CALIBRATION_SAMPLE, replace=False
            )
            sample = sample[rows]
        self.reference_scores = self._scores(sample, leave_one_out=True)
        self.threshold = float(np.quantile(self.reference_scores, quantile))

    def _scores(self, queries: np.ndarray, *, leave_one_out: bool) -> np.ndarray:
        k = self.k + 1 if leave_one_out else self.k
        out = np.empty(len(queries), dtype=np.float32)
        for start in range(0, len(queries), self.block):
            sims = queries[start : start + self.block] @ self.reference.T
            k_eff = min(k, sims.shape[1])
            nearest = -np.partition(-sims, k_eff - 1, axis=1)[:, :k_eff]
            if leave_one_out:
                # The largest similarity is the image with itself (1.0): drop it.
                nearest = np.sort(nearest, axis=1)[:, :-1]
            out[start : start + self.block] = 1.0 - nearest.mean(axis=1)
        return out

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Scores of new embeddings (requests, unlabelled images) against the reference."""
        return self._scores(_unit(features), leave_one_out=False)

    def reference_outlier_scores(self) -> np.ndarray:
        """Every reference embedding scored against the others (itself left out): which of
        the images the threshold was calibrated on are themselves strangers."""
        return self._scores(self.reference, leave_one_out=True)

    def flags(self, features: np.ndarray) -> np.ndarray:
        return self.scores(features) > self.threshold
