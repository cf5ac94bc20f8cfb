"""Classifier heads and the full classifier (backbone + head + softmax)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from apps.ml.features import BackboneFeatures, load_features


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


def save_state(state: Mapping[str, Any], path) -> None:
    torch.save({k: v.detach().cpu() if hasattr(v, "detach") else v for k, v in state.items()}, path)


def load_state(path) -> dict[str, Any]:
    """Only tensors and plain containers: never unpickles code."""
    return torch.load(path, map_location="cpu", weights_only=True)
