"""The pieces of torchvision's classification recipe that fine-tuning uses beyond the loop
itself: learning rates by depth, and the precision a device trains in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# torchvision's classification recipe.
LABEL_SMOOTHING = 0.1
# Each unfrozen backbone layer learns at this fraction of the rate of the layer above it:
# the top adapts most, the lower blocks keep more of what ImageNet taught them.
LAYER_DECAY = 0.7
# The averaged weights forget half of what they held every this many epochs.
EMA_HALF_LIFE_EPOCHS = 1.0


@dataclass(frozen=True)
class Precision:
    """How a device computes: autocast arguments, loss scaling, memory format."""

    autocast: dict[str, Any]
    scale_loss: bool
    channels_last: bool


def precision_for(device_type: str, *, bf16_supported: bool = False) -> Precision:
    """Mixed precision and channels-last on CUDA only: bfloat16 where the GPU has it (no
    loss scaling needed, float32's range), float16 with a GradScaler elsewhere. A CPU
    computes in float32, contiguous memory."""
    if device_type != "cuda":
        return Precision({"device_type": device_type, "enabled": False}, False, False)
    dtype = torch.bfloat16 if bf16_supported else torch.float16
    return Precision(
        {"device_type": "cuda", "dtype": dtype, "enabled": True},
        scale_loss=dtype == torch.float16,
        channels_last=True,
    )


def layerwise_param_groups(
    layers: Sequence[nn.Module], *, head_lr: float, lr: float, decay: float, weight_decay: float
) -> list[dict[str, Any]]:
    """AdamW groups for ``layers`` listed from the output down: ``layers[0]`` (the head) at
    ``head_lr``, ``layers[1]`` at ``lr``, each one below at ``decay`` times the one above.
    Only trainable parameters, each in exactly one group; biases and normalisation weights
    (1-D) get no weight decay, as in torchvision's recipe."""
    groups: list[dict[str, Any]] = []
    seen: set[int] = set()
    for depth, layer in enumerate(layers):
        rate = head_lr if depth == 0 else lr * decay ** (depth - 1)
        decayed: list[nn.Parameter] = []
        plain: list[nn.Parameter] = []
        for p in layer.parameters():
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (plain if p.ndim <= 1 else decayed).append(p)
        for params, wd in ((decayed, weight_decay), (plain, 0.0)):
            if params:
                groups.append({"params": params, "lr": rate, "weight_decay": wd, "depth": depth})
    return groups
