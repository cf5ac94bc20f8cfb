"""The backbone registry: every entry's weights ship in an installed package."""

from __future__ import annotations

import pytest

from apps import ml


@pytest.mark.parametrize("name", sorted(ml.BACKBONES))
def test_every_backbone_has_its_weights_installed(name):
    spec = ml.get_backbone(name)
    path = spec.weights_path()
    assert path.is_file() and path.stat().st_size > 10_000_000
    assert spec.resize_size > spec.input_size and spec.feature_dim == 1280


def test_lite1_and_lite2_are_registered_with_their_input_sizes():
    assert ml.get_backbone("efficientnet_lite1").input_size == 240
    assert ml.get_backbone("efficientnet_lite2").input_size == 260


def test_an_unknown_backbone_names_the_known_ones():
    with pytest.raises(ValueError, match="efficientnet_lite0, efficientnet_lite1"):
        ml.get_backbone("resnet50")
