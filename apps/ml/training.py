"""The specs and results of training, and quick mode (a linear head on cached embeddings).

Plain functions in the style of torchvision's classification references: a frozen spec
dataclass in, a ``TrainResult`` out, progress through a callback. Fine-tuning lives in
``apps.ml.finetune``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from apps.ml.heads import LinearHead


class TrainCancelled(Exception):
    """Raised inside a fit when ``should_stop()`` answered True."""


@dataclass(frozen=True)
class ProgressEvent:
    stage: str
    progress: float  # 0..1 within the stage
    message: str = ""
    metrics: dict[str, Any] | None = None


ProgressCallback = Callable[[ProgressEvent], None]
StopCheck = Callable[[], bool]
ImageSource = Callable[[], Image.Image] | str | Path


# The L2 penalties quick mode chooses among by cross-validation (``choose_l2``). The
# objective is the mean class-weighted cross-entropy plus ``l2 * |W|^2``, so the best penalty
# shrinks as a project grows; the grid spans what hymenoptera-sized (hundreds) to
# ten-thousand-image projects pick.
L2_GRID: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
# Above this many training images the penalty is not searched: a search costs four
# cross-validations (45 s for 10,000 images of 10 classes on one core, measured), larger
# sets always chose the weakest penalty, and with that much data the choice matters least.
L2_SEARCH_MAX_IMAGES = 3000


@dataclass(frozen=True)
class QuickSpec:
    backbone: str
    labels: tuple[str, ...]
    # L-BFGS iterations at most. The objective is strictly convex and the features are
    # centred, so it converges in a few dozen on hundreds to thousands of images.
    steps: int = 100
    # L2 penalty on the head's weights, added to the loss: it makes the objective strictly
    # convex, so the head does not depend on where it starts. Training chooses it by
    # cross-validation (``choose_l2``); this default is for a caller that does not.
    l2: float = 0.03
    class_weighted: bool = True
    seed: int = 0


@dataclass(frozen=True)
class FinetuneSpec:
    backbone: str
    labels: tuple[str, ...]
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-4  # the unfrozen backbone blocks
    head_lr: float = 1e-3
    weight_decay: float = 0.05
    # How many of the backbone's top MBConv blocks train (its final 1x1 conv always does);
    # the rest stays frozen, batch norm included.
    unfreeze_blocks: int = 2
    # Epochs without a better validation score before stopping.
    patience: int = 3
    dropout: float = 0.2  # before the head, while training
    class_weighted: bool = True
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0


@dataclass
class TrainResult:
    spec: QuickSpec | FinetuneSpec
    head_state: dict[str, torch.Tensor] | None = None
    model_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    seconds: float = 0.0
    device: str = "cpu"  # where it trained


def _check_labels(y: np.ndarray, num_classes: int) -> None:
    if len(y) == 0:
        raise ValueError("There are no training examples.")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"Labels must lie in 0..{num_classes - 1}.")


def _class_weights(y: np.ndarray, num_classes: int) -> torch.Tensor:
    counts = np.bincount(y, minlength=num_classes).astype(np.float32)
    weights = np.where(counts > 0, len(y) / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.from_numpy(weights.astype(np.float32))


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean()) if len(y) else float("nan")


def fit_quick(
    train_x: np.ndarray,
    train_y: np.ndarray,
    *,
    spec: QuickSpec,
    val_x: np.ndarray | None = None,
    val_y: np.ndarray | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> TrainResult:
    """A linear head on frozen-backbone features, solved to its optimum: class-weighted
    cross-entropy plus ``spec.l2 * |W|^2``, L-BFGS on centred features (the same solver as
    the cross-validation that chose ``l2``, so the shipped head is the one it scored).

    Deterministic. Takes well under a second for a few thousand images.
    """
    from apps.ml.data_health import fit_softmax, row_space

    started = time.perf_counter()
    num_classes = len(spec.labels)
    if num_classes < 2:
        raise ValueError("Training needs at least 2 labels.")
    y_np = np.asarray(train_y, dtype=np.int64)
    _check_labels(y_np, num_classes)
    x = torch.from_numpy(np.ascontiguousarray(train_x, dtype=np.float32))
    y = torch.from_numpy(y_np)
    if len(x) != len(y):
        raise ValueError(f"Got {len(x)} training features but {len(y)} labels.")
    if should_stop is not None and should_stop():
        raise TrainCancelled()
    # Centring changes only the bias (x.W + b = (x - m).W + (b + m.W)) and conditions the
    # problem far better; the bias is shifted back below, so the head takes raw features.
    mean = x.mean(dim=0, keepdim=True)
    z, vt = row_space((x - mean).numpy())
    w, b = fit_softmax(
        torch.from_numpy(z),
        y,
        num_classes=num_classes,
        l2=spec.l2,
        max_iter=spec.steps,
        class_weighted=spec.class_weighted,
    )
    if vt is not None:
        w = torch.from_numpy(vt).T @ w
    # A private RNG state for the layer's (overwritten) initial values: the fit neither
    # disturbs nor depends on the caller's global one.
    with torch.random.fork_rng(devices=[]):
        head = LinearHead(x.shape[1], num_classes)
    with torch.no_grad():
        head.fc.weight.copy_(w.T)
        head.fc.bias.copy_(b - (mean @ w)[0])
    head.eval()
    with torch.inference_mode():
        logits = head(x)
        weight = _class_weights(y_np, num_classes) if spec.class_weighted else None
        loss = nn.functional.cross_entropy(logits, y, weight=weight) + spec.l2 * w.square().sum()
        row: dict[str, Any] = {
            "step": spec.steps,
            "loss": round(float(loss), 5),
            "train_accuracy": round(_accuracy(logits, y), 5),
        }
        if val_x is not None and val_y is not None and len(val_y) > 0:
            vx = torch.from_numpy(np.ascontiguousarray(val_x, dtype=np.float32))
            vy = torch.from_numpy(np.asarray(val_y, dtype=np.int64))
            row["val_accuracy"] = round(_accuracy(head(vx), vy), 5)
    if on_progress is not None:
        on_progress(ProgressEvent("training", 1.0, metrics=row))
    state = {k: v.detach().clone() for k, v in head.state_dict().items()}
    return TrainResult(
        spec=spec,
        head_state=state,
        history=[row],
        best_epoch=None,
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class RegularisationChoice:
    """What cross-validation chose for quick mode's head, and what it saw."""

    l2: float
    folds: int
    # One row per penalty tried: {"l2", "cv_log_loss", "cv_accuracy"}.
    scores: list[dict[str, float]]
    # Out-of-sample probabilities [N, C] at the chosen penalty (None: not asked for, on a
    # set too large to search).
    probabilities: np.ndarray | None


def choose_l2(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    grid: tuple[float, ...] = L2_GRID,
    folds: int = 5,
    seed: int = 0,
    need_probabilities: bool = True,
) -> RegularisationChoice:
    """The L2 penalty with the lowest cross-validated log-loss (ties: the stronger penalty).

    Log-loss rather than accuracy: on a few hundred images accuracy moves by whole images
    and ties across the grid, while the loss still tells the penalties apart. Each image is
    scored by a head that never saw it (``cross_validated_probabilities``), so the choice
    uses no validation split: every labelled image outside the test split trains the head.

    Above ``L2_SEARCH_MAX_IMAGES`` images the weakest penalty is taken without a search, and
    the out-of-sample probabilities (3 folds) are computed only if ``need_probabilities``.
    """
    from apps.ml.data_health import cross_validated_penalties

    y = np.asarray(labels, dtype=np.int64)
    if not grid:
        raise ValueError("The grid of penalties is empty.")
    folds = max(2, min(folds, len(y)))
    if len(y) > L2_SEARCH_MAX_IMAGES:
        l2 = min(grid)
        probs = None
        if need_probabilities:
            folds = min(folds, 3)
            probs = cross_validated_penalties(
                features, y, num_classes=num_classes, penalties=(l2,), folds=folds, seed=seed
            )[0]
        return RegularisationChoice(
            l2=l2, folds=folds if probs is not None else 0, scores=[], probabilities=probs
        )
    # Strongest penalty first: each fit starts from the previous penalty's solution.
    penalties = tuple(sorted(grid, reverse=True))
    all_probs = cross_validated_penalties(
        features, y, num_classes=num_classes, penalties=penalties, folds=folds, seed=seed
    )
    rows: list[dict[str, float]] = []
    best: tuple[float, float, np.ndarray] | None = None
    for l2, probs in zip(penalties, all_probs, strict=True):
        picked = np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)
        log_loss = float(-np.log(picked).mean()) if len(y) else 0.0
        accuracy = float((probs.argmax(axis=1) == y).mean()) if len(y) else 0.0
        rows.append(
            {"l2": l2, "cv_log_loss": round(log_loss, 5), "cv_accuracy": round(accuracy, 5)}
        )
        if best is None or log_loss < best[1] - 1e-9:
            best = (l2, log_loss, probs)
    assert best is not None
    rows.sort(key=lambda row: row["l2"])
    return RegularisationChoice(l2=best[0], folds=folds, scores=rows, probabilities=best[2])
