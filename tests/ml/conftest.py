"""apps/ml on plain tensors and a few real photos: no database, no Django."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import HYMENOPTERA

LABELS = ("ants", "bees")


def _load(split: str, per_class: int | None = None) -> tuple[list[Image.Image], np.ndarray]:
    images, targets = [], []
    for k, label in enumerate(LABELS):
        paths = sorted((HYMENOPTERA / split / label).iterdir())[:per_class]
        for path in paths:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
            targets.append(k)
    return images, np.asarray(targets)


@pytest.fixture(scope="session")
def val_sample() -> tuple[list[Image.Image], np.ndarray]:
    return _load("val", per_class=6)


@pytest.fixture(scope="session")
def hymenoptera_embeddings():
    """Frozen-backbone features of the whole data set (train/ and val/), computed once."""
    from apps.ml import embed

    train_images, train_y = _load("train")
    val_images, val_y = _load("val")
    return embed(train_images), train_y, embed(val_images), val_y


@pytest.fixture
def photo_path() -> Path:
    return sorted((HYMENOPTERA / "val" / "ants").iterdir())[0]
