"""The images a prediction request carries, read with size limits before any decoding.

Accepted bodies:

- multipart ``image`` (one file) or ``images`` (several, up to ``PREDICT_MAX_IMAGES``);
- JSON ``{"image_base64": "..."}`` (a data: URL prefix is allowed) or
  ``{"images_base64": ["...", ...]}``;
- JSON ``{"url": "https://..."}``: fetched here (http/https only, public addresses only,
  size-capped, time-limited);
- a bare image body (``Content-Type: image/jpeg``, ``image/png``, ...).

Too large is a 413 (checked from Content-Length, the upload's size or the base64 length,
before anything is decoded); anything else wrong is a 400 with a sentence saying what.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from rest_framework import status
from rest_framework.parsers import BaseParser

from apps.core.exceptions import ApplicationError
from apps.core.fetch import FetchTooLarge
from apps.core.fetch import fetch_url as fetch
from apps.core.parsers import JSONParser


@dataclass(frozen=True, slots=True)
class IncomingImage:
    data: bytes
    filename: str


@dataclass(frozen=True, slots=True)
class PredictionInputs:
    images: list[IncomingImage]
    # True when the request asked for several images (``images``, ``images_base64``): the
    # answer is then ``{"results": [...]}`` even for one.
    many: bool


class RawImageParser(BaseParser):
    """A bare image as the whole body (the fastest way to send one)."""

    media_type = "image/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = max_image_bytes()
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise too_large(limit)
        return {"_raw": data}


class OctetStreamParser(RawImageParser):
    media_type = "application/octet-stream"


class PredictJSONParser(JSONParser):
    """JSON bodies (base64 images) up to the prediction request's size limit."""

    def max_bytes(self) -> int:
        return max_request_bytes()


def max_image_bytes() -> int:
    return int(settings.PREDICT_MAX_IMAGE_BYTES)


def max_images() -> int:
    return int(settings.PREDICT_MAX_IMAGES)


def max_request_bytes() -> int:
    return int(settings.PREDICT_MAX_REQUEST_BYTES)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def too_large(limit: int, *, what: str = "The image") -> ApplicationError:
    return ApplicationError(
        f"{what} is larger than the {_megabytes(limit)} limit.",
        code="too_large",
        status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )


def check_content_length(request: Any) -> None:
    """Refuse a request whose declared size is over the limit, before reading its body."""
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > max_request_bytes():
        raise too_large(max_request_bytes(), what="The request")


SEND_AN_IMAGE = (
    "Send an image: a multipart file field 'image' (or 'images' for several), JSON "
    '{"image_base64": "..."} or {"url": "https://..."}, or the image itself as the body.'
)


def read_inputs(request: Any) -> PredictionInputs:
    """The request's images (``request`` is DRF's). Raises ``ApplicationError``."""
    check_content_length(request)
    data = request.data  # parsing happens here; the parsers enforce their own caps
    if "_raw" in data:
        raw = data["_raw"]
        return PredictionInputs([_checked(IncomingImage(raw, "image"))], many=False)
    if request.FILES:
        return _from_files(request.FILES)
    if not data and request.stream is None:  # no body at all: no parser ran
        raise ApplicationError(f"The request has no body. {SEND_AN_IMAGE}", code="no_image")
    if hasattr(data, "get") and not hasattr(data, "getlist"):  # JSON object
        return _from_json(data)
    if hasattr(data, "getlist") and (data.get("image_base64") or data.get("url")):
        return _from_json({key: data.get(key) for key in ("image_base64", "url")})
    raise ApplicationError(SEND_AN_IMAGE, code="no_image")


def _checked(item: IncomingImage) -> IncomingImage:
    if not item.data:
        raise ApplicationError(f"{_name(item)} is empty (0 bytes).", code="empty")
    if len(item.data) > max_image_bytes():
        raise too_large(max_image_bytes(), what=_name(item))
    return item


def _name(item: IncomingImage) -> str:
    return f"The image {item.filename!r}" if item.filename not in ("", "image") else "The image"


def _from_files(files: Any) -> PredictionInputs:
    singles = files.getlist("image")
    several = files.getlist("images")
    if singles and several:
        raise ApplicationError(
            "Send either 'image' or 'images', not both.", code="invalid_image_field"
        )
    uploads = several or singles
    if not uploads:
        fields = ", ".join(sorted(files)) or "none"
        raise ApplicationError(
            f"The file field must be called 'image' (or 'images' for several); got: {fields}.",
            code="no_image",
        )
    if singles and len(singles) > 1:
        raise ApplicationError(
            "Send several images in the field 'images', not 'image'.",
            code="invalid_image_field",
        )
    _check_count(len(uploads))
    limit = max_image_bytes()
    for upload in uploads:  # every size first: nothing is read if one is too big
        if upload.size is not None and upload.size > limit:
            raise too_large(limit, what=f"The image {upload.name!r}")
    images = []
    for upload in uploads:
        upload.seek(0)
        images.append(_checked(IncomingImage(upload.read(limit + 1), upload.name or "image")))
    return PredictionInputs(images, many=bool(several))


def _check_count(count: int) -> None:
    if count > max_images():
        raise ApplicationError(
            f"At most {max_images()} images can be sent in one request; this one has {count}.",
            code="too_many_images",
        )


def _from_json(data: Any) -> PredictionInputs:
    if data.get("image_base64") is not None:
        return PredictionInputs([_from_base64(data["image_base64"], "image")], many=False)
    if data.get("images_base64") is not None:
        values = data["images_base64"]
        if not isinstance(values, list) or not values:
            raise ApplicationError(
                "'images_base64' must be a non-empty list of base64 strings.",
                code="invalid_base64",
            )
        _check_count(len(values))
        return PredictionInputs(
            [_from_base64(value, f"image {i + 1}") for i, value in enumerate(values)], many=True
        )
    if data.get("url") is not None:
        return PredictionInputs([_checked(fetch_url(data["url"]))], many=False)
    raise ApplicationError(
        'The JSON body must have "image_base64" (or "images_base64") or "url".',
        code="no_image",
    )


def _from_base64(value: Any, name: str) -> IncomingImage:
    if not isinstance(value, str) or not value.strip():
        raise ApplicationError(f"The {name} must be a base64 string.", code="invalid_base64")
    text = value.strip()
    if text.startswith("data:"):  # data:image/jpeg;base64,....
        _, comma, text = text.partition(",")
        if not comma:
            raise ApplicationError(
                f"The {name} is a data: URL without data.", code="invalid_base64"
            )
    limit = max_image_bytes()
    if len(text) * 3 // 4 > limit + 3:  # before decoding anything
        raise too_large(limit)
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApplicationError(
            f"The {name} is not valid base64 (it may have been cut off or double-encoded).",
            code="invalid_base64",
        ) from exc
    return _checked(IncomingImage(raw, "image"))


# --- URLs --------------------------------------------------------------------------------


def fetch_url(url: Any) -> IncomingImage:
    """Download one image for a prediction through ``apps.core.fetch`` (http/https, public
    addresses or ``URL_ALLOWLIST`` only, every redirect checked), at most
    ``PREDICT_MAX_IMAGE_BYTES`` (413 past it), within ``PREDICT_URL_TIMEOUT`` seconds in
    all. Any other failure is a 400 ``fetch_failed``."""
    limit = max_image_bytes()
    try:
        fetched = fetch(
            url if isinstance(url, str) else "",
            max_bytes=limit,
            timeout=float(settings.PREDICT_URL_TIMEOUT),
            user_agent="Bakehouse prediction API",
        )
    except FetchTooLarge:
        raise too_large(limit) from None
    name = urlsplit(fetched.url).path.rstrip("/").rsplit("/", 1)[-1] or "image"
    return IncomingImage(fetched.data, name[:200])
