"""How a fine-tuning run decides to stop, and what it came to against the probe it started
from: the figures and one sentence that the job's metrics carry to people."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class EarlyStopping:
    """Keeps track of the best validation epoch: a higher accuracy, or the same accuracy with a
    lower loss (small validation sets tie often), is an improvement; ``patience`` epochs in a
    row without one mean stop."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best: tuple[float, float] | None = None
        self.best_epoch = 0
        self.stale = 0

    def update(self, epoch: int, val_accuracy: float, val_loss: float) -> bool:
        """Record an epoch's scores; True when it is the best so far."""
        if (
            self.best is None
            or val_accuracy > self.best[0]
            or (val_accuracy == self.best[0] and val_loss < self.best[1])
        ):
            self.best, self.best_epoch, self.stale = (val_accuracy, val_loss), epoch, 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.stale >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "stale": self.stale}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best = state["best"]
        self.best = None if best is None else (float(best[0]), float(best[1]))
        self.best_epoch, self.stale = int(state["best_epoch"]), int(state["stale"])


def gap_cannot_close(history: Sequence[dict[str, Any]], *, epochs: int, val_images: int) -> bool:
    """True when the probe (epoch 0) is still the best and the epochs left cannot reach it
    even at the pace seen so far, counted generously: the largest one-epoch gain of the best
    trained epoch, and never less than one validation image per epoch. Needs the probe and
    two trained epochs."""
    if not history or history[0]["epoch"] != 0 or val_images < 1:
        return False
    probe = history[0]["val_accuracy"]
    scores = [row["val_accuracy"] for row in history[1:]]
    if len(scores) < 2 or probe is None:
        return False
    running = list(np.maximum.accumulate(scores))
    gap = probe - running[-1]
    if gap <= 0:
        return False
    pace = max(max(b - a for a, b in zip(running, running[1:], strict=False)), 1.0 / val_images)
    return gap > pace * (epochs - len(scores)) + 1e-9


@dataclass(frozen=True)
class FinetuneOutcome:
    """What a fine-tuning run came to, in figures and in one sentence for people.

    ``outcome``: "improved" (an epoch beat the probe on validation), "kept_probe" (none did:
    the weights are the probe's) or "unchecked" (no validation images, the last epoch is
    kept). ``stopped``: "patience", "gap" (the epochs left could not reach the probe),
    "perfect_probe" (the probe scored every validation image right: nothing could beat it)
    or "all_epochs"."""

    outcome: str
    reason: str
    stopped: str
    epochs_run: int
    epochs_planned: int
    best_epoch: int
    probe_accuracy: float | None
    best_accuracy: float | None
    ema_used: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _epochs(count: int) -> str:
    return f"{count} epoch" + ("" if count == 1 else "s")


def finetune_outcome(
    history: Sequence[dict[str, Any]],
    *,
    best_epoch: int,
    stopped: str,
    epochs: int,
    patience: int,
) -> FinetuneOutcome:
    """The outcome of a run from its history (epoch 0: the probe, when there was one)."""
    trained = [row for row in history if row["epoch"] > 0]
    by_epoch = {row["epoch"]: row for row in history}
    probe = by_epoch[0]["val_accuracy"] if 0 in by_epoch else None
    best_row = by_epoch.get(best_epoch)
    best = best_row["val_accuracy"] if best_row is not None else None
    ema_used = bool(best_row and best_row.get("weights") == "ema")
    run = len(trained)
    best_trained = max((row["val_accuracy"] for row in trained), default=None)

    def made(outcome: str, reason: str) -> FinetuneOutcome:
        return FinetuneOutcome(
            outcome=outcome,
            reason=reason,
            stopped=stopped,
            epochs_run=run,
            epochs_planned=epochs,
            best_epoch=best_epoch,
            probe_accuracy=probe,
            best_accuracy=best,
            ema_used=ema_used,
        )

    if best is None:
        reason = f"There were no validation images: all {_epochs(run)} ran and the last was kept."
        return made("unchecked", reason)
    if probe is not None and best_epoch == 0:
        reached = "" if best_trained is None else f"; the best epoch reached {_pct(best_trained)}"
        if stopped == "perfect_probe":
            reason = (
                f"The frozen-feature model already scored every validation image right "
                f"({_pct(probe)}), so no fine-tuned epoch could show it does better; fine-tuning "
                "stopped before its first epoch and that model was kept."
            )
        elif stopped == "gap":
            left = epochs - run
            reason = (
                f"Fine-tuning stopped after {_epochs(run)}: the best epoch reached "
                f"{_pct(best_trained or 0.0)}, {100 * (probe - (best_trained or 0.0)):.1f} points "
                f"below the frozen-feature model ({_pct(probe)}), and the {_epochs(left)} left "
                "could not close that gap at the pace so far, so that model was kept."
            )
        else:
            verb = "stopped after" if stopped == "patience" else "ran all"
            reason = (
                f"Fine-tuning {verb} {_epochs(run)}: no epoch beat the frozen-feature model "
                f"({_pct(probe)} on validation{reached}), so that model was kept."
            )
        return made("kept_probe", reason)
    weights = " with its averaged (EMA) weights" if ema_used else ""
    against = "" if probe is None else f", against the frozen-feature model's {_pct(probe)}"
    tie = ""
    if probe is not None and best == probe:
        tie = " (the same accuracy with a lower validation loss)"
    reason = f"Epoch {best_epoch} reached {_pct(best)} on validation{weights}{against}{tie}"
    if stopped == "patience":
        reason += f"; fine-tuning stopped after {_epochs(run)}, {patience} without a better one."
    else:
        reason += f"; all {_epochs(run)} ran."
    return made("improved", reason)
