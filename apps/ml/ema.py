"""An exponential moving average of a model's weights, scored beside the raw weights.

A few hundred images make a handful of optimiser steps per epoch, so the raw weights of
the last step are noisy; their running average often scores better on validation. The
average covers every floating-point tensor of the state dict (parameters and batch-norm
statistics); integer buffers (batch counts) are copied.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn


def ema_decay(half_life_steps: float) -> float:
    """The per-step decay under which a weight's contribution halves every
    ``half_life_steps`` updates (0 turns the average off: decay 0 copies the weights)."""
    if half_life_steps < 0:
        raise ValueError("half_life_steps must not be negative.")
    return 0.0 if half_life_steps == 0 else math.pow(0.5, 1.0 / half_life_steps)


class WeightEma:
    """``ema = decay * ema + (1 - decay) * weights`` after every ``update``."""

    def __init__(self, model: nn.Module, *, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError("decay must lie in [0, 1).")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        self.module.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        current = model.state_dict()
        for name, average in self.module.state_dict().items():
            value = current[name].detach()
            if average.dtype.is_floating_point:
                average.lerp_(value.to(average.dtype), 1.0 - self.decay)
            else:
                average.copy_(value)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        weights = {k: v.detach().to("cpu", copy=True) for k, v in self.module.state_dict().items()}
        return {"decay": self.decay, "updates": self.updates, "weights": weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.updates = int(state["updates"])
        self.module.load_state_dict(state["weights"])
