"""``preprocess_batch`` is what serving, embedding and the export check feed the network."""

from __future__ import annotations

import numpy as np
from PIL import Image

from apps.ml import preprocess, preprocess_batch


def test_preprocess_batch_is_the_per_image_preprocessing_stacked(photo_path):
    with Image.open(photo_path) as opened:
        photo = opened.convert("RGB")
    images = [photo, photo.convert("L"), Image.new("RGB", (300, 120), (200, 30, 90))]
    batch = preprocess_batch(images, "efficientnet_lite0")
    assert batch.dtype == np.float32 and batch.shape == (3, 3, 224, 224)
    assert batch.flags.c_contiguous
    # Bit for bit what serving computed image by image before it used preprocess_batch.
    expected = np.stack([preprocess(image, "efficientnet_lite0") for image in images])
    np.testing.assert_array_equal(batch, expected)
    assert preprocess_batch([], "efficientnet_lite0").shape == (0, 3, 224, 224)
