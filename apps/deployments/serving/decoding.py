"""A prediction request's images, decoded within its pixel budget.

Decoding is where a prediction spends its memory and most of its CPU, and what it costs
depends on the pixels, not on the bytes: a 40-megapixel black PNG is a few kilobytes. So
every image's header is read first (format, size; nothing decoded) and the request is
refused with a 413 when one image would decode to more than ``PREDICT_MAX_IMAGE_PIXELS`` or
all of them to more than ``PREDICT_MAX_REQUEST_PIXELS``, before any pixel is decoded.

A JPEG much larger than the model's input is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT
scaling), still at least twice the size the preprocessing resizes to: a phone photo costs
a fraction of its full decode. Pictures under four times that size (every photo of the
usual web sizes) are decoded in full, exactly as for training.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import status

from apps import ml
from apps.core.exceptions import ApplicationError
from apps.deployments.serving import loading


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:g}"


def image_error(exc: Any, *, index: int, filename: str, many: bool) -> ApplicationError:
    """``ml.ImageRejected`` as the API's error, naming the image among several."""
    where = f"Image {index + 1} ({filename}): " if many else ""
    too_large = exc.code in ("too_large", "too_many_pixels")
    return ApplicationError(
        where + exc.message,
        code=exc.code,
        status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        if too_large
        else status.HTTP_400_BAD_REQUEST,
    )


def _over_budget(message: str) -> ApplicationError:
    return ApplicationError(
        message, code="too_many_pixels", status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    )


def decode_for_model(images: list[Any], *, backbone: str, many: bool, max_bytes: int) -> list[Any]:
    """``images`` (``IncomingImage``s) -> ``ml.DecodedImage``s, in order. Raises
    ``ApplicationError``: 413 past the pixel budget, 400 for a file that is not an image."""
    per_image = int(settings.PREDICT_MAX_IMAGE_PIXELS)
    per_request = int(settings.PREDICT_MAX_REQUEST_PIXELS)
    draft_size = 2 * loading.resize_size(backbone)
    headers = []
    total = 0
    for index, item in enumerate(images):
        try:
            header = ml.read_image_header(
                item.data,
                max_pixels=settings.MAX_IMAGE_PIXELS,
                max_bytes=max_bytes,
                draft_size=draft_size,
            )
        except ml.ImageRejected as exc:
            raise image_error(exc, index=index, filename=item.filename, many=many) from exc
        if header.pixels > per_image:
            width, height = header.full_size
            where = f"Image {index + 1} ({item.filename}): " if many else ""
            raise _over_budget(
                f"{where}The image is too large to predict on ({width} x {height} pixels): "
                f"the limit is {_megapixels(per_image)} megapixels per image "
                "(JPEG photos of any size are fine). Please resize it first."
            )
        total += header.pixels
        if total > per_request:
            raise _over_budget(
                f"The images of this request come to more than {_megapixels(per_request)} "
                "megapixels in all, the limit for one request. Please send fewer or smaller "
                "images per request."
            )
        headers.append(header)
    decoded = []
    for index, (item, header) in enumerate(zip(images, headers, strict=True)):
        try:
            decoded.append(header.decode())
        except ml.ImageRejected as exc:
            raise image_error(exc, index=index, filename=item.filename, many=many) from exc
    return decoded
