"""The pretrained backbones as PyTorch feature extractors (training, export, embedding)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from efficientnet_lite_pytorch import EfficientNet
from torch import nn

from apps.ml.backbones import BackboneSpec, get_backbone


class BackboneFeatures(nn.Module):
    """Preprocessed images [N, 3, H, W] -> pooled features [N, feature_dim].

    Wraps the pretrained network without its ImageNet classifier. Its blocks are exposed so
    fine-tuning can unfreeze the top ones.
    """

    def __init__(self, net: EfficientNet, spec: BackboneSpec) -> None:
        super().__init__()
        self.spec = spec
        # Drop the 1000-class layer: it is never used and would bloat every checkpoint.
        net._fc = nn.Identity()
        self.net = net

    @property
    def blocks(self) -> nn.ModuleList:
        return self.net._blocks

    def head_modules(self) -> list[nn.Module]:
        """The layers after the last block (1x1 conv + batch norm)."""
        return [self.net._conv_head, self.net._bn1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.net.extract_features(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def load_features(
    name: str | BackboneSpec = "efficientnet_lite0", *, pretrained: bool = True
) -> BackboneFeatures:
    """The backbone as a feature extractor, in eval mode, ImageNet weights loaded."""
    spec = get_backbone(name)
    net = spec.imagenet_model() if pretrained else EfficientNet.from_name(spec.arch)
    return BackboneFeatures(net, spec).eval()
