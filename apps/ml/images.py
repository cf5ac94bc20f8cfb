"""Opening untrusted image files safely, and the two encodings every stored image gets.

Plain Python (Pillow, pillow-heif, numpy): no Django here, so the ingestion service, the
training data loader and the prediction API all open images the same way.

``open_image`` is the single gate for bytes that came from a user: it refuses anything that
is not one of a short list of photo formats, refuses decompression bombs *before* decoding
(from the size in the header), refuses truncated files, and hands back a fully decoded RGB
picture the right way up.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pillow_heif
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# HEIC/HEIF (iPhone photos) through pillow-heif's Pillow plugin.
pillow_heif.register_heif_opener()

# Pillow format names we accept. Passed to ``Image.open(formats=...)`` so Pillow never even
# tries the other parsers (EPS would start Ghostscript; others are rarely exercised code).
ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF")
ALLOWED_FORMATS_TEXT = "JPEG, PNG, WebP, GIF, BMP, TIFF or HEIC"

# Extensions for the stored original, by Pillow format name.
FORMAT_EXTENSIONS: dict[str, str] = {
    "JPEG": "jpg",
    "PNG": "png",
    "WEBP": "webp",
    "GIF": "gif",
    "BMP": "bmp",
    "TIFF": "tif",
    "HEIF": "heic",
}

THUMBNAIL_SIZE = 256
THUMBNAIL_QUALITY = 85


class ImageRejected(ValueError):
    """A file is not an image Bakehouse accepts. ``message`` is a sentence for a person."""

    def __init__(self, message: str, *, code: str = "invalid_image") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class DecodedImage:
    """A fully decoded RGB picture, already turned the right way up."""

    image: Image.Image
    format: str  # Pillow's format name of the file as it arrived: "JPEG", "PNG", ...
    width: int
    height: int
    # An RGB JPEG with no EXIF rotation: the file itself is already a normalised JPEG.
    is_plain_jpeg: bool = False


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


# Signatures of files people upload by mistake, to say what the file is rather than just
# "not an image". Checked only after Pillow (limited to ALLOWED_FORMATS) gave up.
_KNOWN_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"%!PS", "a PostScript/EPS file"),
    (b"\xc5\xd0\xd3\xc6", "an EPS file"),
    (b"8BPS", "a Photoshop (PSD) file"),
    (b"PK\x03\x04", "a zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x00\x00\x01\x00", "an icon (ICO) file"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 file"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 file"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a program"),
)


def _describe_unreadable(head: bytes) -> ImageRejected:
    """Why bytes Pillow could not identify are refused, in words."""
    for magic, name in _KNOWN_OTHER_FORMATS:
        if head.startswith(magic):
            return ImageRejected(
                f"This file is {name}, not an image. "
                f"Bakehouse accepts {ALLOWED_FORMATS_TEXT} images.",
                code="unsupported_format",
            )
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return ImageRejected(
            f"AVIF images are not accepted yet. Please convert it to {ALLOWED_FORMATS_TEXT}.",
            code="unsupported_format",
        )
    if head[4:8] == b"ftyp":
        return ImageRejected(
            "This file looks like a video, not an image.", code="unsupported_format"
        )
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return ImageRejected(
            "This file is an SVG drawing, not a photo. Bakehouse accepts "
            f"{ALLOWED_FORMATS_TEXT} images.",
            code="not_an_image",
        )
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in text:
        return ImageRejected(
            "This file is a web page (HTML), not an image. It was probably saved from a "
            "browser instead of the picture itself.",
            code="not_an_image",
        )
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return ImageRejected("This file contains text, not an image.", code="not_an_image")
    return ImageRejected(
        "This file is not an image Bakehouse can read. It may be damaged, or in a format "
        f"other than {ALLOWED_FORMATS_TEXT}.",
        code="not_an_image",
    )


def _read_all(data: bytes | bytearray | memoryview | BinaryIO, max_bytes: int | None) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
    else:
        # Read one byte past the limit: enough to know the file is too big without
        # pulling a huge upload into memory.
        raw = data.read(-1 if max_bytes is None else max_bytes + 1)
    if not raw:
        raise ImageRejected("The file is empty (0 bytes).", code="empty")
    if max_bytes is not None and len(raw) > max_bytes:
        raise ImageRejected(
            f"The file is larger than the {_megabytes(max_bytes)} limit for one image.",
            code="too_large",
        )
    return raw


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited on white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":
        # Palette images carry transparency in their info; RGBA keeps it for compositing.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
        if mode == "RGB":
            return image
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return background.convert("RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit and 32-bit greyscale: Pillow's convert() would clip at 255 (a white
        # picture), so scale the real range down to 8 bits.
        array = np.asarray(image)
        if mode == "F" or array.dtype.kind == "f":
            array = np.nan_to_num(array.astype(np.float64))
            low, high = float(array.min()), float(array.max())
            scale = 255.0 / (high - low) if high > low else 0.0
            eight_bit = ((array - low) * scale).clip(0, 255).astype(np.uint8)
        else:
            array = array.astype(np.int64)
            high = int(array.max()) if array.size else 0
            shift = 8 if high > 255 else 0
            eight_bit = (np.clip(array, 0, 65535) >> shift).clip(0, 255).astype(np.uint8)
        return Image.fromarray(eight_bit).convert("RGB")
    # "1", "L", "CMYK", "YCbCr", ...: Pillow's own conversions are right for these.
    return image.convert("RGB")


def open_image(
    data: bytes | bytearray | memoryview | BinaryIO,
    *,
    max_pixels: int,
    max_bytes: int | None = None,
    draft_size: int | None = None,
) -> DecodedImage:
    """Check and decode one untrusted image file.

    Raises ``ImageRejected`` (with a message for a person) for an empty or too large file,
    anything that is not one of ``ALLOWED_FORMATS``, a picture over ``max_pixels`` pixels
    (checked from the header, before any pixel is decoded) and a truncated or damaged file.
    Multi-frame files (GIF, WebP, TIFF) give their first frame.

    ``draft_size``: a JPEG may then be decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT
    scaling), as long as the picture still covers ``draft_size`` x ``draft_size``. Every
    byte is still read and checked, several times faster. ``width``/``height`` stay the
    full size; ``image.size`` is the decoded size.
    """
    raw = _read_all(data, max_bytes)
    image = _open_checked(raw, max_pixels=max_pixels)
    return _decode(image, max_pixels=max_pixels, draft_size=draft_size)


def _open_checked(raw: bytes, *, max_pixels: int) -> Image.Image:
    """Identify the format and check the size in the header. Nothing is decoded yet."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A global switch somebody might flip to "fix" one odd file; it would let half-
        # decoded (grey-filled) pictures into the data set silently.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False.")
    try:
        image = Image.open(io.BytesIO(raw), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise _bomb(max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise _describe_unreadable(raw[:512]) from exc
    except Exception as exc:  # noqa: BLE001 - any parser error means a damaged header
        raise ImageRejected(
            "The image file is damaged: its header could not be read.", code="corrupt"
        ) from exc

    # The image reads from an in-memory buffer, so it is never closed (closing would also
    # discard the decoded pixels of an RGB file, which are returned as they are).
    file_format = image.format or ""
    if file_format not in ALLOWED_FORMATS:  # belt and braces: formats= already limits
        raise ImageRejected(
            f"{file_format or 'This'} images are not accepted. Please use {ALLOWED_FORMATS_TEXT}.",
            code="unsupported_format",
        )
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected("The image has no pixels.", code="corrupt")
    if width * height > max_pixels:
        raise _bomb(max_pixels, width=width, height=height)
    return image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - broken EXIF: keep the picture as stored
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _decode(image: Image.Image, *, max_pixels: int, draft_size: int | None) -> DecodedImage:
    file_format = image.format or ""
    full_width, full_height = image.size
    try:
        orientation = _orientation(image)
        source_mode = image.mode
        if draft_size and file_format == "JPEG":
            image.draft(image.mode, (draft_size, draft_size))
        image.load()
        # exif_transpose copies the picture even when there is nothing to turn.
        upright = ImageOps.exif_transpose(image) if orientation != 1 else image
        rgb = _to_rgb(upright)
        rgb.load()
    except Image.DecompressionBombError as exc:
        raise _bomb(max_pixels) from exc
    except Exception as exc:  # noqa: BLE001 - truncated data, bad chunks, codec errors
        raise ImageRejected(
            "The image file is damaged or incomplete (it may have been cut off while "
            "downloading or copying).",
            code="corrupt",
        ) from exc
    if orientation in (5, 6, 7, 8):  # a quarter turn swaps the sides
        full_width, full_height = full_height, full_width
    return DecodedImage(
        image=rgb,
        format=file_format,
        width=full_width,
        height=full_height,
        is_plain_jpeg=file_format == "JPEG" and source_mode == "RGB" and orientation == 1,
    )


@dataclass(frozen=True)
class PreparedImage:
    """What the ingestion stores for one file, besides the original bytes."""

    format: str
    width: int
    height: int
    normalized: bytes  # RGB JPEG, upright
    thumbnail: bytes  # JPEG within THUMBNAIL_SIZE x THUMBNAIL_SIZE
    # True when ``normalized`` is the original file itself (see prepare_for_storage).
    normalized_is_original: bool


def prepare_for_storage(
    raw: bytes,
    *,
    max_pixels: int,
    max_bytes: int | None = None,
    thumbnail_size: int = THUMBNAIL_SIZE,
) -> PreparedImage:
    """Check one uploaded file and make its normalised JPEG and thumbnail.

    The common case, an RGB JPEG with no EXIF rotation, already *is* a normalised JPEG:
    it is kept byte for byte (no re-encoding loss) and decoded only at thumbnail scale,
    which still reads and checks every byte. That is most of the speed of an upload. Any
    other file is decoded once at full size and encoded twice.
    """
    raw = _read_all(raw, max_bytes)
    image = _open_checked(raw, max_pixels=max_pixels)
    plain = image.format == "JPEG" and image.mode == "RGB" and _orientation(image) == 1
    decoded = _decode(image, max_pixels=max_pixels, draft_size=thumbnail_size if plain else None)
    normalized = raw if decoded.is_plain_jpeg else encode_jpeg(decoded.image)
    return PreparedImage(
        format=decoded.format,
        width=decoded.width,
        height=decoded.height,
        normalized=normalized,
        thumbnail=make_thumbnail(decoded.image, size=thumbnail_size),
        normalized_is_original=decoded.is_plain_jpeg,
    )


def _bomb(max_pixels: int, *, width: int = 0, height: int = 0) -> ImageRejected:
    size = f" ({width} x {height} pixels)" if width and height else ""
    return ImageRejected(
        f"The image is too large{size}: the limit is {max_pixels / 1e6:g} megapixels. "
        "Please resize it before uploading.",
        code="too_many_pixels",
    )


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    """The picture as a baseline RGB JPEG (the normalised copy every image gets)."""
    buffer = io.BytesIO()
    _to_rgb(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def make_thumbnail(image: Image.Image, size: int = THUMBNAIL_SIZE) -> bytes:
    """A JPEG that fits in ``size`` x ``size`` pixels, aspect ratio kept."""
    rgb = _to_rgb(image)
    scale = min(size / rgb.width, size / rgb.height, 1.0)
    target = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    # reducing_gap: a cheap integer reduce() first, then a proper resample: near the
    # quality of a full Lanczos at a fraction of the time for big photos.
    thumbnail = rgb.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
    buffer = io.BytesIO()
    thumbnail.save(buffer, format="JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()


# --- Decoding within a pixel budget (the prediction API) ----------------------------------


@dataclass(frozen=True)
class ImageHeader:
    """A checked image file whose pixels are not decoded yet (``read_image_header``)."""

    image: Image.Image
    max_pixels: int
    # The picture's own size, as stored (before any EXIF turn).
    full_size: tuple[int, int]

    @property
    def pixels(self) -> int:
        """How many pixels ``decode()`` will produce (fewer than the full size for a JPEG
        decoded at a smaller scale)."""
        width, height = self.image.size
        return width * height

    def decode(self) -> DecodedImage:
        """Decode the pixels, as ``open_image`` would. Raises ``ImageRejected``."""
        turned = _orientation(self.image) in (5, 6, 7, 8)
        decoded = _decode(self.image, max_pixels=self.max_pixels, draft_size=None)
        width, height = self.full_size
        if turned:  # a quarter turn swaps the sides
            width, height = height, width
        return DecodedImage(
            image=decoded.image,
            format=decoded.format,
            width=width,
            height=height,
            is_plain_jpeg=decoded.is_plain_jpeg,
        )


def read_image_header(
    data: bytes | bytearray | memoryview | BinaryIO,
    *,
    max_pixels: int,
    max_bytes: int | None = None,
    draft_size: int | None = None,
) -> ImageHeader:
    """Check one untrusted image file as ``open_image`` does, without decoding its pixels, so
    that a caller can weigh what decoding will cost (``ImageHeader.pixels``) first.

    ``draft_size``: a JPEG is set to decode at 1/2, 1/4 or 1/8 scale as long as the picture
    still covers ``draft_size`` x ``draft_size`` (libjpeg's DCT scaling): the pixel count
    is then that of the smaller picture.
    """
    raw = _read_all(data, max_bytes)
    image = _open_checked(raw, max_pixels=max_pixels)
    full_size = image.size
    if draft_size and image.format == "JPEG":
        image.draft(image.mode, (draft_size, draft_size))
    return ImageHeader(image=image, max_pixels=max_pixels, full_size=full_size)
