"""Fine-tuning's image augmentation: torchvision's TrivialAugment recipe on the PIL image,
ending in the one normalisation that serving uses (``apps.ml.preprocessing.normalise``).

``ImageTransform`` is what a fine-tuning data set calls. In train mode it draws a random crop,
a flip and one TrivialAugmentWide operation; in eval mode it is ``preprocess`` itself, so the
images a model is scored on go through exactly the serving path.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from apps.ml.backbones import BackboneSpec, get_backbone
from apps.ml.preprocessing import normalise, preprocess

# Smallest share of the image a random crop keeps. torchvision's ImageNet recipe uses 0.08;
# a few hundred photos with the frozen bottom of a network lose the object too often below
# a quarter (and the probe it must beat saw whole, centred images).
MIN_CROP_SCALE = 0.25


class ImageTransform:
    """PIL image -> float32 tensor [3, input_size, input_size], augmented only in train mode."""

    def __init__(self, spec: BackboneSpec | str, *, train: bool = True) -> None:
        self.spec = get_backbone(spec)
        self.training = train
        self._augment = v2.Compose(
            [
                v2.RandomResizedCrop(
                    self.spec.input_size,
                    scale=(MIN_CROP_SCALE, 1.0),
                    interpolation=v2.InterpolationMode.BILINEAR,
                    antialias=True,
                ),
                v2.RandomHorizontalFlip(),
                v2.TrivialAugmentWide(interpolation=v2.InterpolationMode.BILINEAR),
            ]
        )

    def train(self, mode: bool = True) -> ImageTransform:
        self.training = mode
        return self

    def eval(self) -> ImageTransform:
        return self.train(False)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = image if image.mode == "RGB" else image.convert("RGB")
        if not self.training:
            return torch.from_numpy(preprocess(image, self.spec))
        augmented = self._augment(image)
        return torch.from_numpy(normalise(np.asarray(augmented), self.spec))
