"""Bringing images into a project: every way in (uploads, imports, images added from the
prediction log) goes through ``ImageIngestor``.

Each file is read with a size cap, hashed, checked against the project's images (exact
duplicates are reported, not stored twice), checked and decoded by ``apps.ml``, stored
under a generated name, and its row is written in a batch. One bad file never stops the
others: each gets a line in the report. New rows announce themselves through
``apps.core.hooks`` (``on_images_created``; ``on_labels_changed`` for their first label),
so labeling records the history and training computes embeddings without datasets
importing either.
"""

from __future__ import annotations

import contextlib
import hashlib
import unicodedata
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F

from apps.core.exceptions import ApplicationError
from apps.core.hooks import on_images_created, on_labels_changed
from apps.core.storage import (
    project_storage_prefix,
    storage_files_delete,
    storage_files_delete_later,
)
from apps.datasets.models import Image, RejectionCount, Split
from apps.datasets.splits import images_assign_splits, split_clean
from apps.ml import FORMAT_EXTENSIONS, ImageRejected, prepare_for_storage
from apps.projects.models import Label, Project
from apps.projects.services import label_name_clean, labels_get_or_create

# What a new image's first label event says about its origin (LabelEvent.Source values;
# labeling sits above datasets, so the values are spelled here).
LABEL_SOURCE_USER = "user"
LABEL_SOURCE_IMPORT = "import"

MAX_URL_LENGTH = Image._meta.get_field("source_url").max_length or 2000
MAX_FILENAME_LENGTH = 255


@dataclass
class IngestReport:
    """What happened to each file: the answer of an upload, the ``report`` of an import."""

    created: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "created": self.created,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "skipped": self.skipped,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> IngestReport:
        data = data or {}
        return cls(
            created=list(data.get("created", [])),
            duplicates=list(data.get("duplicates", [])),
            rejected=list(data.get("rejected", [])),
            skipped=list(data.get("skipped", [])),
        )


@dataclass
class IncomingFile:
    """One file on its way in. ``filename`` is what the report shows (an upload's name, a
    zip member's path, a URL); the stored ``original_filename`` is its cleaned last part."""

    filename: str
    data: bytes | BinaryIO
    label: str | None = None
    split: str = ""
    split_locked: bool = False
    source_url: str = ""
    display_name: str | None = None


def filename_clean(name: str, *, keep_folders: bool = False, fallback: str = "image") -> str:
    """A file name safe to show: no folders (unless ``keep_folders``), no control or
    direction-override characters, at most 255 characters. Never used as a storage name."""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/")
    if not keep_folders:
        name = name.rstrip("/").rsplit("/", 1)[-1]
    # Category C: control characters and format characters such as U+202E (right-to-left
    # override), which can make "gpj.exe" display as "exe.jpg".
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = f"{stem[: MAX_FILENAME_LENGTH - len(ext) - 2]}~.{ext}"
        else:
            name = name[: MAX_FILENAME_LENGTH - 1] + "~"
    return name or fallback


def read_capped(data: bytes | BinaryIO, max_bytes: int) -> bytes:
    """The file's bytes, reading at most one byte past the limit."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if hasattr(data, "seek"):
        with contextlib.suppress(OSError, ValueError):
            data.seek(0)
    chunks: list[bytes] = []
    remaining = max_bytes + 1
    while remaining > 0:
        chunk = data.read(min(remaining, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def too_big_message(max_bytes: int) -> str:
    return f"The file is larger than the {max_bytes / (1024 * 1024):.1f} MB limit for one image."


@dataclass
class _PendingImage:
    row: Image
    filename: str
    label_name: str | None
    names: list[str]


class ImageIngestor:
    """Checks and stores files one at a time; writes their rows in batches (``flush``).

    Files are stored as they come (so memory holds one file at a time); rows, label
    events, counters and the split assignment are written together in ``flush``'s single
    transaction. If that transaction fails, the batch's files are deleted again.
    """

    def __init__(
        self,
        *,
        project: Project,
        uploaded_by: Any = None,
        source: str = Image.Source.UPLOAD,
        label_source: str = LABEL_SOURCE_USER,
        report: IngestReport | None = None,
    ) -> None:
        self.project = project
        self.uploaded_by = uploaded_by if getattr(uploaded_by, "pk", None) else None
        self.source = source
        self.label_source = label_source
        self.report = report or IngestReport()
        self.max_bytes: int = settings.MAX_IMAGE_BYTES
        self.max_pixels: int = settings.MAX_IMAGE_PIXELS
        self.created_ids: list[int] = []
        self._pending: dict[str, _PendingImage] = {}
        self._pending_duplicates: list[tuple[dict[str, Any], str]] = []
        self._stored: dict[str, int] = {}  # sha256 -> id, stored by this ingestor
        self._new_duplicates = 0
        self._new_rejections = 0

    @property
    def pending_count(self) -> int:
        return len(self._pending) + len(self._pending_duplicates)

    def reject(self, filename: str, message: str, *, code: str = "invalid") -> None:
        self.report.rejected.append({"filename": filename, "error": message, "code": code})
        self._new_rejections += 1

    def skip(self, filename: str, reason: str) -> None:
        self.report.skipped.append({"filename": filename, "reason": reason})

    def _existing_id(self, sha256: str) -> int | None:
        if sha256 in self._stored:
            return self._stored[sha256]
        return (
            Image.objects.filter(project_id=self.project.pk, sha256=sha256)
            .values_list("id", flat=True)
            .first()
        )

    def add(self, item: IncomingFile) -> None:
        """Check and store one file; its row waits for ``flush``."""
        filename = filename_clean(item.filename, keep_folders=True)
        label_name: str | None = None
        if item.label is not None and " ".join(str(item.label).split()):
            try:
                label_name = label_name_clean(item.label)
            except ApplicationError as exc:
                self.reject(filename, exc.message, code="invalid_label")
                return
        raw = read_capped(item.data, self.max_bytes)
        if not raw:
            self.reject(filename, "The file is empty (0 bytes).", code="empty")
            return
        if len(raw) > self.max_bytes:
            self.reject(filename, too_big_message(self.max_bytes), code="too_large")
            return

        sha256 = hashlib.sha256(raw).hexdigest()
        if sha256 in self._pending:
            entry = {"filename": filename, "existing_id": None}
            self.report.duplicates.append(entry)
            self._pending_duplicates.append((entry, sha256))
            self._new_duplicates += 1
            return
        existing_id = self._existing_id(sha256)
        if existing_id is not None:
            self.report.duplicates.append({"filename": filename, "existing_id": existing_id})
            self._new_duplicates += 1
            return

        try:
            prepared = prepare_for_storage(
                raw, max_pixels=self.max_pixels, max_bytes=self.max_bytes
            )
        except ImageRejected as exc:
            # apps.ml's error stops here: it becomes a line of the report.
            self.reject(filename, exc.message, code=exc.code)
            return

        folder = f"{project_storage_prefix(self.project.pk)}images/{uuid.uuid4().hex}"
        extension = FORMAT_EXTENSIONS.get(prepared.format, "bin")
        original = default_storage.save(f"{folder}/original.{extension}", ContentFile(raw))
        # A plain RGB JPEG is its own normalised copy: one file, named twice.
        normalized = (
            original
            if prepared.normalized_is_original
            else default_storage.save(f"{folder}/normalized.jpg", ContentFile(prepared.normalized))
        )
        thumbnail = default_storage.save(f"{folder}/thumbnail.jpg", ContentFile(prepared.thumbnail))
        split = item.split if item.split in Split.values else ""
        row = Image(
            project_id=self.project.pk,
            split=split,
            split_locked=bool(split and item.split_locked),
            sha256=sha256,
            original=original,
            normalized=normalized,
            thumbnail=thumbnail,
            original_filename=filename_clean(item.display_name or item.filename),
            format=prepared.format,
            width=prepared.width,
            height=prepared.height,
            size_bytes=len(raw),
            source=self.source,
            source_url=item.source_url[:MAX_URL_LENGTH],
            uploaded_by=self.uploaded_by,
        )
        self._pending[sha256] = _PendingImage(
            row=row,
            filename=filename,
            label_name=label_name,
            names=[original, normalized, thumbnail],
        )

    def flush(self, *, before_commit: Callable[[], None] | None = None) -> list[int]:
        """Write the waiting rows (with their label events, the rejection counters and the
        split assignment) in one transaction; ``before_commit`` runs inside it too (an
        import saves its progress there, so progress and rows commit together)."""
        pending = list(self._pending.values())
        try:
            with transaction.atomic():
                created = self._write_rows(pending)
                self._bump_counters()
                if before_commit is not None:
                    before_commit()
        except BaseException:
            storage_files_delete(names=[n for p in pending for n in p.names])
            raise
        finally:
            self._pending = {}
        ids = [image.pk for image in created]
        self.created_ids.extend(ids)
        return ids

    def _bump_counters(self) -> None:
        duplicates, rejected = self._new_duplicates, self._new_rejections
        if not duplicates and not rejected:
            return
        updated = RejectionCount.objects.filter(project_id=self.project.pk).update(
            duplicates=F("duplicates") + duplicates, rejected=F("rejected") + rejected
        )
        if not updated:
            counter, created = RejectionCount.objects.get_or_create(
                project_id=self.project.pk,
                defaults={"duplicates": duplicates, "rejected": rejected},
            )
            if not created:
                RejectionCount.objects.filter(pk=counter.pk).update(
                    duplicates=F("duplicates") + duplicates, rejected=F("rejected") + rejected
                )
        self._new_duplicates = self._new_rejections = 0

    def _write_rows(self, pending: list[_PendingImage]) -> list[Image]:
        labels: dict[str, Label] = {}
        names = {p.label_name for p in pending if p.label_name}
        if names:
            labels = labels_get_or_create(project=self.project, names=names)
        for p in pending:
            p.row.label = labels.get(p.label_name) if p.label_name else None

        try:
            with transaction.atomic():
                created = Image.objects.bulk_create([p.row for p in pending])
            kept = pending
        except IntegrityError:
            # Another upload stored one of these files a moment ago: row by row, and the
            # ones that lost the race become duplicates.
            created, kept = [], []
            for p in pending:
                p.row.pk = None
                try:
                    with transaction.atomic():
                        p.row.save(force_insert=True)
                except IntegrityError:
                    existing_id = self._existing_id(p.row.sha256)
                    self.report.duplicates.append(
                        {"filename": p.filename, "existing_id": existing_id}
                    )
                    self._new_duplicates += 1
                    storage_files_delete_later(names=p.names)
                    continue
                created.append(p.row)
                kept.append(p)

        for p in kept:
            self._stored[p.row.sha256] = p.row.pk
            self.report.created.append(
                {"id": p.row.pk, "filename": p.filename, "sha256": p.row.sha256}
            )
        for entry, sha256 in self._pending_duplicates:
            entry["existing_id"] = self._stored.get(sha256) or self._existing_id(sha256)
        self._pending_duplicates = []

        labeled = [p.row for p in kept if p.row.label_id]
        if labeled:
            on_labels_changed.send(
                changes=[(row.pk, None, row.label) for row in labeled],
                actor=self.uploaded_by,
                source=self.label_source,
            )
            if any(not row.split for row in labeled):
                images_assign_splits(project_id=self.project.pk)
        if created:
            on_images_created.send(image_ids=[row.pk for row in created])
        return created


def images_upload(
    *,
    project: Project,
    files: Iterable[Any],
    uploaded_by: Any = None,
    label: str | None = None,
    split: str | None = None,
) -> IngestReport:
    """Store uploaded files (Django ``UploadedFile``s, or anything with ``name`` and
    ``read``). ``label`` (created if missing) and ``split`` apply to all of them; a split
    given here is locked (automatic assignment never moves it)."""
    split = split_clean(split)
    has_label = label is not None and bool(" ".join(str(label).split()))
    label = label_name_clean(label) if has_label else None
    files = list(files)
    if not files:
        raise ApplicationError("No files were sent. Choose one or more images.", code="no_files")
    ingestor = ImageIngestor(
        project=project,
        uploaded_by=uploaded_by,
        source=Image.Source.UPLOAD,
        label_source=LABEL_SOURCE_USER,
    )
    for upload in files:
        name = getattr(upload, "name", None) or "upload"
        size = getattr(upload, "size", None)
        if size is not None and size > ingestor.max_bytes:
            ingestor.reject(
                filename_clean(name), too_big_message(ingestor.max_bytes), code="too_large"
            )
            continue
        ingestor.add(
            IncomingFile(
                filename=name, data=upload, label=label, split=split, split_locked=bool(split)
            )
        )
    ingestor.flush()
    return ingestor.report


def image_ingest(
    *,
    project: Project,
    data: bytes,
    filename: str = "image.jpg",
    label: str | None = None,
    split: str | None = None,
    uploaded_by: Any = None,
    source: str = Image.Source.UPLOAD,
    label_source: str = LABEL_SOURCE_USER,
) -> Image:
    """Store one image and return it. Raises ``ApplicationError``: for a bad file with the
    code the check gave (``not_an_image``, ``too_large``, ...), for a file the project
    already has with code ``duplicate`` (``existing_id`` in its extra). ``label_source`` is
    what the label's history entry says (a LabelEvent.Source value; the prediction log
    adds images with "prediction")."""
    split = split_clean(split)
    ingestor = ImageIngestor(
        project=project, uploaded_by=uploaded_by, source=source, label_source=label_source
    )
    ingestor.add(
        IncomingFile(
            filename=filename, data=data, label=label, split=split, split_locked=bool(split)
        )
    )
    ids = ingestor.flush()
    if ingestor.report.rejected:
        entry = ingestor.report.rejected[0]
        raise ApplicationError(entry["error"], code=entry.get("code", "invalid"))
    if not ids:
        existing = ingestor.report.duplicates[0]["existing_id"]
        raise ApplicationError(
            "This project already has this image.",
            code="duplicate",
            extra={"existing_id": existing},
        )
    return Image.objects.select_related("label").get(pk=ids[0])
