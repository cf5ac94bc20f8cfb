"""Classifier heads and the full classifier (backbone + head + softmax)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import nn

from apps.ml.features import BackboneFeatures, load_features
from apps.ml.threads import torch_threads


class LinearHead(nn.Module):
    """Features [N, D] -> logits [N, C]. One linear layer: quick mode's whole model."""

    def __init__(self, feature_dim: int, num_classes: int, *, dropout: float = 0.0) -> None:
        super().__init__()
        # Dropout holds no state: a head trained with it loads into one built without it.
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(feature_dim, num_classes)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(features))


class Classifier(nn.Module):
    """Preprocessed images [N, 3, H, W] -> logits (``forward``) or probabilities (``Softmaxed``)."""

    def __init__(self, features: BackboneFeatures, head: LinearHead) -> None:
        super().__init__()
        self.features = features
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Softmaxed(nn.Module):
    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier(x), dim=-1)


def build_classifier(
    backbone: str,
    num_classes: int,
    *,
    head_state: Mapping[str, Any] | None = None,
    model_state: Mapping[str, Any] | None = None,
) -> nn.Module:
    """Preprocessed input [N, 3, 224, 224] -> class probabilities, in eval mode.

    ``head_state``: a quick-mode head on the pretrained frozen backbone.
    ``model_state``: a whole fine-tuned ``Classifier`` state dict.
    """
    if num_classes < 2:
        raise ValueError("A classifier needs at least 2 classes.")
    features = load_features(backbone, pretrained=model_state is None)
    classifier = Classifier(features, LinearHead(features.spec.feature_dim, num_classes))
    if model_state is not None:
        classifier.load_state_dict(dict(model_state))
    elif head_state is not None:
        classifier.head.load_state_dict(dict(head_state))
    return Softmaxed(classifier).eval()


def save_state(state: Mapping[str, Any], path: str | Path | IO[bytes]) -> None:
    """Write a state dict (tensors moved to the CPU) to a path or a binary file object."""
    torch.save({k: v.detach().cpu() if hasattr(v, "detach") else v for k, v in state.items()}, path)


def state_bytes(state: Mapping[str, Any]) -> bytes:
    """A state dict as the bytes ``save_state`` would write (for storage backends)."""
    buffer = io.BytesIO()
    save_state(state, buffer)
    return buffer.getvalue()


def load_state(path: str | Path | bytes | IO[bytes]) -> dict[str, Any]:
    """A path, a binary file object or the bytes themselves. Only tensors and plain
    containers: never unpickles code."""
    source = io.BytesIO(path) if isinstance(path, bytes | bytearray) else path
    return torch.load(source, map_location="cpu", weights_only=True)


def head_probabilities(head_state: Mapping[str, Any], features: np.ndarray) -> np.ndarray:
    """Class probabilities [N, C] of a trained linear head on embeddings [N, D]."""
    weight = head_state["fc.weight"]
    head = LinearHead(weight.shape[1], weight.shape[0])
    head.load_state_dict(dict(head_state))
    head.eval()
    with torch_threads(1), torch.inference_mode():
        logits = head(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)))
        return torch.softmax(logits, dim=-1).numpy()
