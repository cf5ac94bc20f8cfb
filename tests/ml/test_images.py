"""apps.ml.images: the gate every uploaded file goes through (no database)."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageFile

from apps.ml import images as images_module
from apps.ml.images import (
    ImageRejected,
    encode_jpeg,
    make_thumbnail,
    open_image,
    prepare_for_storage,
)

MAX_PIXELS = 40_000_000


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _gradient(width: int = 120, height: int = 80) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    array = np.stack(
        [np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)), (x + y) / 2],
        axis=2,
    )
    return Image.fromarray(array.astype(np.uint8), "RGB")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def _png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels but holds almost no data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _rejected(data, **kwargs) -> ImageRejected:
    kwargs.setdefault("max_pixels", MAX_PIXELS)
    with pytest.raises(ImageRejected) as caught:
        open_image(data, **kwargs)
    assert isinstance(caught.value, ValueError)
    assert caught.value.message and caught.value.message[0].isupper()
    return caught.value


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("JPEG", {}),
        ("PNG", {}),
        ("WEBP", {"lossless": True}),
        ("GIF", {}),
        ("BMP", {}),
        ("TIFF", {}),
    ],
)
def test_allowed_formats_open_as_rgb(fmt, options):
    data = _encode(_gradient(), fmt, **options)
    decoded = open_image(data, max_pixels=MAX_PIXELS)
    assert decoded.format == fmt
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == (120, 80) == decoded.image.size


def test_heic_opens():
    heif = pillow_heif.from_pillow(_gradient(64, 48))
    buffer = io.BytesIO()
    heif.save(buffer, quality=80)
    decoded = open_image(buffer.getvalue(), max_pixels=MAX_PIXELS)
    assert decoded.format == "HEIF"
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == (64, 48)


def test_file_like_input_is_read():
    decoded = open_image(io.BytesIO(_encode(_gradient(), "PNG")), max_pixels=MAX_PIXELS)
    assert decoded.width == 120


def test_rgba_is_composited_on_white():
    transparent = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    transparent.putpixel((0, 0), (255, 0, 0, 255))
    decoded = open_image(_encode(transparent, "PNG"), max_pixels=MAX_PIXELS)
    assert decoded.image.getpixel((5, 5)) == (255, 255, 255)
    assert decoded.image.getpixel((0, 0)) == (255, 0, 0)


def test_gif_with_transparency_and_first_frame_of_animation():
    frames = [Image.new("P", (20, 20), i) for i in range(3)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    data = _encode(frames[1], "GIF", save_all=True, append_images=[frames[2], frames[0]])
    decoded = open_image(data, max_pixels=MAX_PIXELS)
    assert decoded.format == "GIF"
    assert decoded.image.getpixel((3, 3)) == (255, 0, 0)  # frame 1 is red and comes first

    transparent = Image.new("P", (8, 8), 0)
    transparent.putpalette([0, 0, 0] * 256)
    data = _encode(transparent, "GIF", transparency=0)
    assert open_image(data, max_pixels=MAX_PIXELS).image.getpixel((1, 1)) == (255, 255, 255)


def test_cmyk_jpeg_becomes_rgb():
    data = _encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    decoded = open_image(data, max_pixels=MAX_PIXELS)
    red, green, blue = decoded.image.getpixel((8, 8))
    assert decoded.image.mode == "RGB"
    assert red > 200 and green < 60 and blue < 60
    assert decoded.is_plain_jpeg is False


def test_16_bit_greyscale_is_scaled_not_clipped():
    array = np.full((10, 10), 32768, dtype=np.uint16)  # mid grey in 16 bits
    data = _encode(Image.fromarray(array), "PNG")
    pixel = open_image(data, max_pixels=MAX_PIXELS).image.getpixel((5, 5))
    assert pixel == (128, 128, 128)


def test_exif_orientation_is_applied():
    wide = Image.new("RGB", (40, 20), (0, 0, 255))
    wide.paste((255, 0, 0), (0, 0, 10, 20))  # red band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = _encode(wide, "JPEG", exif=exif.tobytes(), quality=95)
    decoded = open_image(data, max_pixels=MAX_PIXELS)
    assert (decoded.width, decoded.height) == (20, 40) == decoded.image.size
    red, _, blue = decoded.image.getpixel((10, 3))  # left band is now on top
    assert red > 200 and blue < 60
    assert decoded.is_plain_jpeg is False


def test_empty_file():
    assert _rejected(b"").code == "empty"
    assert "empty" in _rejected(io.BytesIO(b"")).message


def test_too_many_bytes():
    data = _encode(_gradient(), "PNG")
    error = _rejected(data, max_bytes=len(data) - 1)
    assert error.code == "too_large"
    assert open_image(data, max_pixels=MAX_PIXELS, max_bytes=len(data)).width == 120


@pytest.mark.parametrize(
    ("data", "word"),
    [
        (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", "HTML"),
        (b"<html><head></head></html>", "HTML"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
        (b"just some notes, saved as .jpg\n", "text"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"PK\x03\x04" + b"\x00" * 40, "zip"),
        (b"\x00\x01\x02\x03\x04\x05garbage\xff\xfe", "not an image"),
    ],
)
def test_not_images(data, word):
    error = _rejected(data)
    assert word.lower() in error.message.lower()


def test_eps_is_never_handed_to_ghostscript(monkeypatch):
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    called = []
    monkeypatch.setattr("subprocess.check_call", lambda *a, **k: called.append(a))
    monkeypatch.setattr("subprocess.Popen", lambda *a, **k: called.append(a))
    error = _rejected(eps)
    assert error.code == "unsupported_format"
    assert called == []


def test_other_formats_are_refused():
    data = _encode(_gradient(16, 16), "ICO")
    assert _rejected(data).code == "unsupported_format"
    data = _encode(_gradient(16, 16), "PPM")
    assert _rejected(data).code == "not_an_image"


def test_truncated_jpeg_is_rejected():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = _encode(_gradient(400, 300), "JPEG", quality=90)
    for cut in (len(data) // 2, len(data) - 100):
        error = _rejected(data[:cut])
        assert error.code == "corrupt"
        assert "damaged or incomplete" in error.message
        with pytest.raises(ImageRejected):
            prepare_for_storage(data[:cut], max_pixels=MAX_PIXELS)  # the fast path too


def test_truncated_png_and_corrupt_header():
    data = _encode(_gradient(200, 200), "PNG")
    assert _rejected(data[: len(data) // 2]).code == "corrupt"
    assert _rejected(data[:30]).code in ("corrupt", "not_an_image")


def test_decompression_bomb_is_refused_from_the_header():
    bomb = _png_bomb(50_000, 50_000)  # 2.5 gigapixels in 100 bytes
    started = time.perf_counter()
    error = _rejected(bomb, max_pixels=MAX_PIXELS)
    # Decoding 2.5 gigapixels would take minutes and gigabytes; the header check takes none.
    assert time.perf_counter() - started < 10.0
    assert error.code == "too_many_pixels"
    # Under Pillow's own hard limit, our check (from the header) names the size.
    error = _rejected(_png_bomb(9000, 9000), max_pixels=MAX_PIXELS)
    assert "9000 x 9000" in error.message and "40 megapixels" in error.message

    small = _png_bomb(3000, 3000)
    assert _rejected(small, max_pixels=1_000_000).code == "too_many_pixels"


def test_pillows_own_bomb_guard_is_kept():
    # Over twice Pillow's MAX_IMAGE_PIXELS: Pillow refuses it in open() already, even with
    # a generous max_pixels of our own.
    assert Image.MAX_IMAGE_PIXELS
    bomb = _png_bomb(20_000, 20_000)
    assert _rejected(bomb, max_pixels=10**12).code == "too_many_pixels"


def test_load_truncated_images_must_stay_off(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError):
        open_image(_encode(_gradient(), "PNG"), max_pixels=MAX_PIXELS)


def test_encode_jpeg_and_thumbnail():
    image = _gradient(1000, 500)
    jpeg = encode_jpeg(image)
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
    thumb = Image.open(io.BytesIO(make_thumbnail(image)))
    assert thumb.format == "JPEG" and thumb.size == (256, 128)
    small = Image.open(io.BytesIO(make_thumbnail(_gradient(100, 50), size=256)))
    assert small.size == (100, 50)  # never enlarged
    rgba = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    assert Image.open(io.BytesIO(make_thumbnail(rgba))).getpixel((5, 5))[0] > 250


def test_draft_decoding_keeps_the_full_size():
    data = _encode(_gradient(2000, 1000), "JPEG", quality=90)
    decoded = open_image(data, max_pixels=MAX_PIXELS, draft_size=256)
    assert (decoded.width, decoded.height) == (2000, 1000)
    assert decoded.image.width < 2000 and decoded.image.width >= 256


def test_prepare_for_storage_keeps_plain_jpegs_and_normalises_the_rest():
    jpeg = _encode(_gradient(800, 600), "JPEG", quality=90)
    prepared = prepare_for_storage(jpeg, max_pixels=MAX_PIXELS)
    assert prepared.normalized_is_original and prepared.normalized == jpeg
    assert (prepared.width, prepared.height) == (800, 600)
    assert Image.open(io.BytesIO(prepared.thumbnail)).size == (256, 192)

    png = _encode(Image.new("RGBA", (300, 200), (0, 0, 255, 128)), "PNG")
    prepared = prepare_for_storage(png, max_pixels=MAX_PIXELS)
    assert not prepared.normalized_is_original
    normalized = Image.open(io.BytesIO(prepared.normalized))
    assert normalized.format == "JPEG" and normalized.mode == "RGB"
    assert normalized.size == (300, 200)


def test_every_image_of_the_shared_data_set_opens(hymenoptera):
    files = sorted(p for p in hymenoptera.rglob("*") if p.is_file())
    assert len(files) > 300
    formats = set()
    for path in files:
        decoded = open_image(path.read_bytes(), max_pixels=MAX_PIXELS)
        assert decoded.image.mode == "RGB" and decoded.width > 0
        formats.add(decoded.format)
    assert formats == {"JPEG", "GIF"}  # train/ants/imageNotFound.gif is a real GIF
    gif = open_image((hymenoptera / "train/ants/imageNotFound.gif").read_bytes(), max_pixels=1e8)
    assert gif.format == "GIF"
    formica = open_image((hymenoptera / "train/ants/formica.jpeg").read_bytes(), max_pixels=1e8)
    assert formica.format == "JPEG"


def test_module_never_imports_django():
    assert "django" not in images_module.__dict__
    with open(images_module.__file__) as handle:
        source = handle.read()
    assert "import django" not in source and "from django" not in source
