"""POST /api/v1/projects/{id}/images/: direct uploads, with every kind of bad file."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from apps.core.hooks import on_images_created
from apps.datasets.models import Image, RejectionCount
from apps.labeling.models import LabelEvent
from tests.factories import ImageFactory, make_jpeg_bytes, make_png_bytes

pytestmark = pytest.mark.django_db


def _url(project) -> str:
    return f"/api/v1/projects/{project.id}/images/"


def _file(name: str, data: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def _dataset_files(folder, count: int) -> list[SimpleUploadedFile]:
    paths = sorted(p for p in folder.iterdir() if p.is_file())[:count]
    return [_file(p.name, p.read_bytes()) for p in paths]


def _png_bomb(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_upload_the_shared_data_set(auth_client, project, hymenoptera, user):
    ants = _dataset_files(hymenoptera / "train" / "ants", 15)
    bees = _dataset_files(hymenoptera / "train" / "bees", 15)

    answer = auth_client.post(_url(project), {"files": ants, "label": "ants"}, format="multipart")
    assert answer.status_code == 201, answer.content
    assert len(answer.data["created"]) == 15
    assert answer.data["duplicates"] == [] and answer.data["rejected"] == []
    answer = auth_client.post(_url(project), {"files": bees, "label": "bees"}, format="multipart")
    assert len(answer.data["created"]) == 15

    assert Image.objects.filter(project=project).count() == 30
    assert Image.objects.filter(project=project, label__name="ants").count() == 15
    entry = answer.data["created"][0]
    assert set(entry) == {"id", "filename", "sha256"}
    image = Image.objects.get(id=entry["id"])
    assert image.original_filename == entry["filename"]
    assert image.uploaded_by == user and image.source == Image.Source.UPLOAD
    assert image.width > 0 and image.height > 0 and image.format == "JPEG"
    assert image.size_bytes == (hymenoptera / "train/bees" / entry["filename"]).stat().st_size
    # Stored under generated names, never the uploaded one.
    for field in (image.original, image.normalized, image.thumbnail):
        assert field.name.startswith(f"projects/{project.id}/images/")
        assert entry["filename"] not in field.name
        assert default_storage.exists(field.name)
    thumbnail = PILImage.open(default_storage.open(image.thumbnail.name))
    assert max(thumbnail.size) == 256
    # Every labeled image got a split and a history entry.
    assert not Image.objects.filter(project=project, split="").exists()
    assert LabelEvent.objects.filter(image__project=project, source="user").count() == 30


def test_dataset_quirks_are_valid_images(auth_client, project, hymenoptera):
    gif = hymenoptera / "train/ants/imageNotFound.gif"
    formica = hymenoptera / "train/ants/formica.jpeg"
    files = [
        _file(gif.name, gif.read_bytes(), "image/gif"),
        _file(formica.name, formica.read_bytes()),
    ]
    answer = auth_client.post(_url(project), {"files": files}, format="multipart")
    assert answer.status_code == 201
    assert {c["filename"] for c in answer.data["created"]} == {"imageNotFound.gif", "formica.jpeg"}
    stored = Image.objects.get(original_filename="imageNotFound.gif")
    assert stored.format == "GIF" and stored.original.name.endswith("original.gif")
    normalized = PILImage.open(default_storage.open(stored.normalized.name))
    assert normalized.format == "JPEG" and normalized.mode == "RGB"


def test_bad_files_are_reported_and_the_good_ones_kept(auth_client, project, settings, hymenoptera):
    settings.MAX_IMAGE_BYTES = 200_000
    settings.MAX_IMAGE_PIXELS = 4_000_000
    good = [_file(p.name, p.read_bytes()) for p in sorted((hymenoptera / "val/ants").iterdir())[:3]]
    existing = ImageFactory(project=project)
    truncated = make_jpeg_bytes(400, 300)
    big = b"\xff\xd8\xff" + b"\x00" * 300_000
    bad = [
        _file("empty.jpg", b""),
        _file("page.jpg", b"<!DOCTYPE html><html><body>Not found</body></html>"),
        _file("drawing.jpg", b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>'),
        _file("notes.jpg", b"shopping list\n"),
        _file("cut.jpg", truncated[: len(truncated) // 2]),
        _file("bomb.png", _png_bomb(20_000, 20_000), "image/png"),
        _file("medium-bomb.png", _png_bomb(3_000, 3_000), "image/png"),
        _file("huge.jpg", big),
        _file("archive.jpg", b"PK\x03\x04" + b"\x00" * 100),
    ]
    twice = make_png_bytes()
    dupes = [
        _file("again.png", existing.original.read()),
        _file("one.png", twice, "image/png"),
        _file("two.png", twice, "image/png"),
    ]
    answer = auth_client.post(_url(project), {"files": good + bad + dupes}, format="multipart")
    assert answer.status_code == 201
    report = answer.data
    created = {c["filename"] for c in report["created"]}
    assert created == {f.name for f in good} | {"one.png"}
    rejected = {r["filename"]: r for r in report["rejected"]}
    assert set(rejected) == {f.name for f in bad}
    assert rejected["empty.jpg"]["code"] == "empty"
    assert "HTML" in rejected["page.jpg"]["error"]
    assert "SVG" in rejected["drawing.jpg"]["error"]
    assert "text" in rejected["notes.jpg"]["error"]
    assert rejected["cut.jpg"]["code"] == "corrupt"
    assert rejected["bomb.png"]["code"] == "too_many_pixels"
    assert rejected["medium-bomb.png"]["code"] == "too_many_pixels"
    assert rejected["huge.jpg"]["code"] == "too_large"
    assert "zip" in rejected["archive.jpg"]["error"]
    for entry in rejected.values():
        assert entry["error"].endswith(".")
    duplicates = {d["filename"]: d["existing_id"] for d in report["duplicates"]}
    one_id = next(c["id"] for c in report["created"] if c["filename"] == "one.png")
    assert duplicates == {"again.png": existing.id, "two.png": one_id}

    assert Image.objects.filter(project=project).count() == 1 + len(good) + 1
    counter = RejectionCount.objects.get(project=project)
    assert (counter.duplicates, counter.rejected) == (2, len(bad))
    stats = auth_client.get(f"/api/v1/projects/{project.id}/stats/").data
    assert stats["duplicates_rejected"] == 2 and stats["rejected"] == len(bad)


def test_all_rejected_still_answers_the_report(auth_client, project):
    files = [_file("a.jpg", b"nope"), _file("b.jpg", b"")]
    answer = auth_client.post(_url(project), {"files": files}, format="multipart")
    assert answer.status_code == 201
    assert answer.data["created"] == [] and len(answer.data["rejected"]) == 2


def test_no_files_is_a_clear_400(auth_client, project):
    answer = auth_client.post(_url(project), {"label": "ants"}, format="multipart")
    assert answer.status_code == 400
    assert answer.data["error"]["code"] == "no_files"


def test_label_is_created_and_split_is_locked(auth_client, project):
    files = [_file("x.jpg", make_jpeg_bytes()), _file("y.jpg", make_jpeg_bytes())]
    answer = auth_client.post(
        _url(project), {"files": files, "label": "wasps", "split": "test"}, format="multipart"
    )
    assert answer.status_code == 201
    images = Image.objects.filter(project=project, label__name="wasps")
    assert images.count() == 2
    assert all(i.split == "test" and i.split_locked for i in images)


def test_bad_split_is_refused(auth_client, project):
    answer = auth_client.post(
        _url(project),
        {"files": [_file("x.jpg", make_jpeg_bytes())], "split": "holdout"},
        format="multipart",
    )
    assert answer.status_code == 400
    assert answer.data["error"]["code"] == "invalid_split"
    assert not Image.objects.exists()


def test_displayed_names_are_cleaned(auth_client, project):
    name = "evil\u202egpj.exe\x07.jpg"
    answer = auth_client.post(
        _url(project), {"files": [_file(name, make_jpeg_bytes())]}, format="multipart"
    )
    shown = answer.data["created"][0]["filename"]
    assert "\u202e" not in shown and "\x07" not in shown
    assert shown == "evilgpj.exe.jpg"


def test_rotated_and_transparent_files_are_normalised(auth_client, project):
    wide = PILImage.new("RGB", (60, 20), (0, 128, 0))
    exif = PILImage.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    wide.save(buffer, format="JPEG", exif=exif.tobytes())
    files = [
        _file("phone.jpg", buffer.getvalue()),
        _file("logo.png", make_png_bytes(40, 30), "image/png"),
    ]
    answer = auth_client.post(_url(project), {"files": files}, format="multipart")
    assert len(answer.data["created"]) == 2
    phone = Image.objects.get(original_filename="phone.jpg")
    assert (phone.width, phone.height) == (20, 60)
    assert phone.normalized.name != phone.original.name
    assert PILImage.open(default_storage.open(phone.normalized.name)).size == (20, 60)
    logo = Image.objects.get(original_filename="logo.png")
    assert logo.original.name.endswith(".png") and logo.normalized.name.endswith(".jpg")


def test_new_images_are_announced_for_embedding(auth_client, project):
    calls = []

    def receiver(*, image_ids):
        calls.append(list(image_ids))

    on_images_created.connect(receiver)
    try:
        files = [_file("x.jpg", make_jpeg_bytes()), _file("y.jpg", make_jpeg_bytes())]
        answer = auth_client.post(_url(project), {"files": files}, format="multipart")
    finally:
        on_images_created.disconnect(receiver)
    assert calls == [[c["id"] for c in answer.data["created"]]]
