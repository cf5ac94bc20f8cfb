"""The pixel budget of a prediction request, and JPEGs decoded near the model's input size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from apps import ml
from tests.deployments.conftest import LABELS, upload

pytestmark = pytest.mark.django_db


def _url(deployment) -> str:
    return f"/api/v1/predict/{deployment.slug}/"


def _black_png(size: tuple[int, int]) -> bytes:
    """A 1-bit PNG: a few kilobytes whatever its size, megapixels once decoded."""
    buffer = io.BytesIO()
    PILImage.new("1", size).save(buffer, format="PNG")
    return buffer.getvalue()


def _no_decoding(monkeypatch) -> None:
    header_type = type(ml.read_image_header(_black_png((2, 2)), max_pixels=100))

    def must_not_decode(self):
        raise AssertionError("decoded an image of a request over its pixel budget")

    monkeypatch.setattr(header_type, "decode", must_not_decode)


def test_huge_pngs_are_413_at_once_not_decoded(key_client, deployment, monkeypatch):
    """Five 40-megapixel PNGs of 5 KB each: refused from their headers, before any pixel is
    decoded (it used to decode them all and answer 200 seconds later)."""
    png = _black_png((8000, 5000))
    assert len(png) < 20_000
    _no_decoding(monkeypatch)
    response = key_client.post(
        _url(deployment),
        {"images": [upload(png, f"{i}.png", "image/png") for i in range(5)]},
        format="multipart",
    )
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "too_many_pixels"
    assert error["message"].startswith("Image 1 (0.png): The image is too large to predict on")
    assert "8000 x 5000" in error["message"]


def test_the_request_has_a_pixel_budget_in_all(key_client, deployment, settings, monkeypatch):
    settings.PREDICT_MAX_IMAGE_PIXELS = 1_000_000
    settings.PREDICT_MAX_REQUEST_PIXELS = 2_500_000
    png = _black_png((1000, 1000))  # each one within the per-image limit
    _no_decoding(monkeypatch)
    response = key_client.post(
        _url(deployment),
        {"images": [upload(png, f"{i}.png", "image/png") for i in range(3)]},
        format="multipart",
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_pixels"
    assert "2.5 megapixels in all" in response.json()["error"]["message"]


def test_within_the_budget_is_answered(key_client, deployment, settings):
    settings.PREDICT_MAX_REQUEST_PIXELS = 2_500_000
    png = _black_png((1000, 1000))
    response = key_client.post(
        _url(deployment),
        {"images": [upload(png, f"{i}.png", "image/png") for i in range(2)]},
        format="multipart",
    )
    assert response.status_code == 200, response.content


def test_a_big_jpeg_counts_and_decodes_at_a_smaller_scale(key_client, deployment, settings):
    """A 12-megapixel photo decodes at a quarter of its sides: within a 1-megapixel budget."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (4000, 3000), (90, 140, 60)).save(buffer, format="JPEG")
    jpeg = buffer.getvalue()
    header = ml.read_image_header(jpeg, max_pixels=40_000_000, draft_size=512)
    assert header.image.size == (1000, 750)
    decoded = header.decode()
    assert (decoded.width, decoded.height, decoded.image.size) == (4000, 3000, (1000, 750))
    settings.PREDICT_MAX_IMAGE_PIXELS = 1_000_000
    response = key_client.post(_url(deployment), data=jpeg, content_type="image/jpeg")
    assert response.status_code == 200, response.content


def test_a_large_photo_scores_as_its_full_decode(
    key_client, deployment, trained_models, hymenoptera
):
    """The one hymenoptera photo over 2000 pixels wide, decoded at half scale for serving,
    gets the probabilities of its full decode (training's way) to within a hundredth."""
    import torch

    path = next(hymenoptera.glob("*/ants/ants-devouring-*.jpg"))
    data = path.read_bytes()
    full = ml.open_image(data, max_pixels=40_000_000).image
    with torch.inference_mode():
        expected = trained_models["v1"].classifier(torch.from_numpy(ml.preprocess_batch([full])))
    response = key_client.post(_url(deployment), data=data, content_type="image/jpeg")
    assert response.status_code == 200, response.content
    served = {p["label"]: p["confidence"] for p in response.json()["predictions"]}
    np.testing.assert_allclose(
        [served[label] for label in LABELS], expected.numpy()[0], atol=0.01, rtol=0
    )
