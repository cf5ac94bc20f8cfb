"""Bringing images into a project (uploads, zip archives, URL lists, CSV files), the
train/val/test split, deleting images, and the files behind them.

Every way in goes through ``ImageIngestor``: each file is read with a size cap, hashed,
checked against the project's images (exact duplicates are reported, not stored twice),
checked and decoded by ``apps.ml.images``, stored under a generated name, and its row is
written in a batch. One bad file never stops the others: each gets a line in the report.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import logging
import os
import re
import time
import unicodedata
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.datasets.models import Image, ImportJob, RejectionCount, Split
from apps.labeling.models import LabelEvent
from apps.labeling.services import label_events_record
from apps.ml.images import FORMAT_EXTENSIONS, ImageRejected, prepare_for_storage
from apps.projects.models import Label, Project
from apps.projects.services import label_name_clean, labels_get_or_create

logger = logging.getLogger(__name__)

# Default shares of each label's images per split. An image keeps its split once it has
# one (see images_assign_splits).
SPLIT_TARGETS: tuple[tuple[str, float], ...] = (
    (Split.TRAIN, 0.8),
    (Split.VAL, 0.1),
    (Split.TEST, 0.1),
)
# Folder names in a zip that set the split of the images below them.
SPLIT_FOLDERS: dict[str, str] = {
    "train": Split.TRAIN,
    "training": Split.TRAIN,
    "val": Split.VAL,
    "valid": Split.VAL,
    "validation": Split.VAL,
    "test": Split.TEST,
    "testing": Split.TEST,
}
ARCHIVE_EXTENSIONS = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst")
IGNORED_NAMES = {"thumbs.db", "desktop.ini"}
# An import writes its rows (and saves its progress and report) after this many files, or
# after JOB_HEARTBEAT_SECONDS, whichever comes first. Not much more often: each save
# rewrites the whole report, which grows with the archive.
FLUSH_EVERY_FILES = 500
MAX_CSV_BYTES = 10 * 1024 * 1024
URL_FETCH_CONCURRENCY = 4
MAX_URL_LENGTH = Image._meta.get_field("source_url").max_length or 2000
MAX_FILENAME_LENGTH = 255


# --- Reports ---------------------------------------------------------------------------


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


# --- Names -------------------------------------------------------------------------------


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


def _storage_folder(project_id: int) -> str:
    return f"projects/{project_id}/images/{uuid.uuid4().hex}"


# --- Storage -----------------------------------------------------------------------------


def storage_files_delete(*, names: Iterable[str]) -> int:
    """Delete files from the media storage, best effort (a missing file is fine). Empty
    image folders are removed too on the local file system. Returns how many went."""
    deleted = 0
    folders: set[str] = set()
    for name in {n for n in names if n}:
        try:
            default_storage.delete(name)
            deleted += 1
            folders.add(name.rsplit("/", 1)[0])
        except Exception:  # noqa: BLE001 - a file we cannot delete must not fail the rest
            logger.warning("could not delete stored file %s", name, exc_info=True)
    _remove_empty_folders(folders)
    return deleted


def _remove_empty_folders(folders: Iterable[str]) -> None:
    try:
        path = default_storage.path  # only file-system storages have paths
    except AttributeError:
        return
    for folder in folders:
        with contextlib.suppress(OSError, NotImplementedError):
            os.rmdir(path(folder))


# More names than this are deleted by a worker instead of the request that deleted them.
INLINE_DELETE_MAX = 300
DELETE_TASK_CHUNK = 1000


def storage_files_delete_later(*, names: list[str]) -> None:
    """Delete the files once the current transaction commits (never for a rolled-back
    delete). Many files go to workers in chunks."""
    names = [n for n in names if n]
    if not names:
        return
    if len(names) <= INLINE_DELETE_MAX:
        transaction.on_commit(lambda: storage_files_delete(names=names))
        return
    from apps.datasets.tasks import delete_stored_files

    for start in range(0, len(names), DELETE_TASK_CHUNK):
        chunk = names[start : start + DELETE_TASK_CHUNK]
        transaction.on_commit(lambda chunk=chunk: delete_stored_files.delay(chunk))


def storage_prefix_delete(*, prefix: str) -> int:
    """Delete every stored file under ``prefix`` (a folder such as ``projects/7/``)."""
    if not prefix.endswith("/") or prefix.startswith("/") or ".." in prefix.split("/"):
        raise ValueError(f"unsafe storage prefix {prefix!r}")
    names: list[str] = []
    folders: list[str] = []

    def walk(folder: str) -> None:
        try:
            subfolders, files = default_storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return
        folders.append(folder)
        names.extend(f"{folder}/{name}" for name in files)
        for sub in subfolders:
            walk(f"{folder}/{sub}")

    walk(prefix.rstrip("/"))
    deleted = storage_files_delete(names=names)
    # Deepest first, so that parents are empty when their turn comes.
    _remove_empty_folders(sorted(folders, key=lambda f: f.count("/"), reverse=True))
    return deleted


def storage_prefix_delete_later(*, prefix: str) -> None:
    from apps.datasets.tasks import delete_stored_prefix

    transaction.on_commit(lambda: delete_stored_prefix.delay(prefix))


# --- Splits ------------------------------------------------------------------------------


def _split_pick(counts: dict[str, int], sha256: str) -> str:
    """The split furthest below its target share once this image is added; ties are
    broken by the image's hash, so the choice does not depend on anything else."""
    total = sum(counts.values()) + 1
    deficits = [(target * total - counts[name], name) for name, target in SPLIT_TARGETS]
    best = max(d for d, _ in deficits)
    tied = [name for d, name in deficits if best - d < 1e-9]
    if len(tied) == 1:
        return tied[0]
    return tied[int(sha256[:8] or "0", 16) % len(tied)]


def images_assign_splits(*, project_id: int) -> int:
    """Give every labeled image without a split one, stratified per label (default
    80/10/10), greedily: each, in upload order, goes to the split most below its target for
    its label. An image that has a split keeps it: adding images never moves the old ones,
    so a test set stays a test set; a relabeled image keeps its split too (the shares drift
    a little, and the next images fill the gap). Only a user (PATCH) moves an image.

    Three queries plus one UPDATE per split. Returns how many images got a split."""
    with transaction.atomic():
        pending = list(
            Image.objects.filter(project_id=project_id, split="", label__isnull=False)
            .order_by("id")
            .values_list("id", "label_id", "sha256")
        )
        if not pending:
            return 0
        counts: dict[int, dict[str, int]] = defaultdict(
            lambda: {name: 0 for name, _ in SPLIT_TARGETS}
        )
        existing = (
            Image.objects.filter(project_id=project_id, label__isnull=False)
            .exclude(split="")
            .order_by()
            .values_list("label_id", "split")
            .annotate(n=Count("id"))
        )
        for label_id, split, n in existing:
            counts[label_id][split] += n
        chosen: dict[str, list[int]] = defaultdict(list)
        for image_id, label_id, sha256 in pending:
            split = _split_pick(counts[label_id], sha256)
            counts[label_id][split] += 1
            chosen[split].append(image_id)
        now = timezone.now()
        for split, ids in chosen.items():
            for start in range(0, len(ids), 900):
                # split="" again: a concurrent writer's choice is not overwritten.
                Image.objects.filter(id__in=ids[start : start + 900], split="").update(
                    split=split, updated_at=now
                )
    return len(pending)


# --- Ingestion ---------------------------------------------------------------------------


def _read_capped(data: bytes | BinaryIO, max_bytes: int) -> bytes:
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


def _too_big_message(max_bytes: int) -> str:
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
        uploaded_by=None,
        source: str = Image.Source.UPLOAD,
        label_source: str = LabelEvent.Source.USER,
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
        raw = _read_capped(item.data, self.max_bytes)
        if not raw:
            self.reject(filename, "The file is empty (0 bytes).", code="empty")
            return
        if len(raw) > self.max_bytes:
            self.reject(filename, _too_big_message(self.max_bytes), code="too_large")
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
            self.reject(filename, exc.message, code=exc.code)
            return

        folder = _storage_folder(self.project.pk)
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
        from apps.training.services import embeddings_schedule

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
            label_events_record(
                changes=[(row.pk, None, row.label) for row in labeled],
                actor=self.uploaded_by,
                source=self.label_source,
            )
            if any(not row.split for row in labeled):
                images_assign_splits(project_id=self.project.pk)
        embeddings_schedule(image_ids=[row.pk for row in created])
        return created


def _split_clean(split: Any) -> str:
    if split in (None, ""):
        return ""
    if split not in Split.values:
        raise ApplicationError("The split must be one of train, val or test.", code="invalid_split")
    return str(split)


def images_upload(
    *,
    project: Project,
    files: Iterable[Any],
    uploaded_by=None,
    label: str | None = None,
    split: str | None = None,
) -> IngestReport:
    """Store uploaded files (Django ``UploadedFile``s, or anything with ``name`` and
    ``read``). ``label`` (created if missing) and ``split`` apply to all of them; a split
    given here is locked (automatic assignment never moves it)."""
    split = _split_clean(split)
    has_label = label is not None and bool(" ".join(str(label).split()))
    label = label_name_clean(label) if has_label else None
    files = list(files)
    if not files:
        raise ApplicationError("No files were sent. Choose one or more images.", code="no_files")
    ingestor = ImageIngestor(
        project=project,
        uploaded_by=uploaded_by,
        source=Image.Source.UPLOAD,
        label_source=LabelEvent.Source.USER,
    )
    for upload in files:
        name = getattr(upload, "name", None) or "upload"
        size = getattr(upload, "size", None)
        if size is not None and size > ingestor.max_bytes:
            ingestor.reject(
                filename_clean(name), _too_big_message(ingestor.max_bytes), code="too_large"
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
    uploaded_by=None,
    source: str = Image.Source.UPLOAD,
    label_source: str = LabelEvent.Source.USER,
) -> Image:
    """Store one image and return it. Raises ``ImageRejected`` for a bad file and
    ``ApplicationError`` (code ``duplicate``, ``existing_id`` in its extra) for a file the
    project already has. ``label_source`` is what the label's history entry says (the
    prediction log adds images with LabelEvent.Source.PREDICTION)."""
    split = _split_clean(split)
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
        raise ImageRejected(entry["error"], code=entry.get("code", "invalid"))
    if not ids:
        existing = ingestor.report.duplicates[0]["existing_id"]
        raise ApplicationError(
            "This project already has this image.",
            code="duplicate",
            extra={"existing_id": existing},
        )
    return Image.objects.select_related("label").get(pk=ids[0])


# --- Deleting images ---------------------------------------------------------------------


def images_delete(*, project: Project, images: QuerySet[Image]) -> int:
    """Delete images (with their label history and embeddings); their files are deleted
    after the commit. Returns how many were deleted."""
    with transaction.atomic():
        selected = images.filter(project=project).order_by()
        rows = list(selected.values_list("id", "original", "normalized", "thumbnail"))
        if not rows:
            return 0
        ids = [row[0] for row in rows]
        for start in range(0, len(ids), 900):
            Image.objects.filter(id__in=ids[start : start + 900]).delete()
        storage_files_delete_later(names=[name for row in rows for name in row[1:]])
    return len(rows)


# --- Import jobs -------------------------------------------------------------------------


def _dispatch_import(job_id: int) -> None:
    from apps.datasets.tasks import run_import

    transaction.on_commit(lambda: run_import.delay(job_id))


def _zip_check_directory(upload: BinaryIO) -> int:
    """Check a zip's central directory before accepting it. Returns its file count."""
    try:
        upload.seek(0)
        if not zipfile.is_zipfile(upload):
            raise ApplicationError(
                "This file is not a zip archive. Upload a .zip file whose folders are named "
                "after your labels (for example ants/ and bees/).",
                code="not_a_zip",
            )
        upload.seek(0)
        with zipfile.ZipFile(upload) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ApplicationError(
            "The zip archive is damaged and cannot be opened.", code="bad_zip"
        ) from exc
    files = [info for info in infos if not info.is_dir()]
    if len(infos) > settings.MAX_ZIP_MEMBERS:
        raise ApplicationError(
            f"The zip archive holds {len(infos)} entries; the limit is "
            f"{settings.MAX_ZIP_MEMBERS}. Split it into smaller archives.",
            code="zip_too_many_members",
        )
    declared = sum(info.file_size for info in files)
    if declared > settings.MAX_ZIP_UNCOMPRESSED_BYTES:
        raise ApplicationError(
            f"The zip archive unpacks to {declared / 1024**3:.1f} GB; the limit is "
            f"{settings.MAX_ZIP_UNCOMPRESSED_BYTES / 1024**3:.1f} GB. Split it into "
            "smaller archives.",
            code="zip_too_large",
        )
    if not files:
        raise ApplicationError("The zip archive is empty.", code="zip_empty")
    upload.seek(0)
    return len(files)


def _url_entries(urls: Any, *, default_label: str | None) -> list[dict[str, Any]]:
    if not isinstance(urls, list) or not urls:
        raise ApplicationError('Send a list of image addresses in "urls".', code="no_urls")
    if len(urls) > settings.MAX_ZIP_MEMBERS:
        raise ApplicationError(
            f"At most {settings.MAX_ZIP_MEMBERS} addresses can be imported at once.",
            code="too_many_urls",
        )
    entries = []
    for item in urls:
        if isinstance(item, dict):
            url, label = item.get("url"), item.get("label")
        else:
            url, label = item, None
        if not isinstance(url, str):
            raise ApplicationError("Each address must be text.", code="invalid_url")
        label = label if isinstance(label, str) and label.strip() else default_label
        entries.append({"url": url.strip(), "label": label})
    return entries


def _csv_entries(text: str) -> list[dict[str, Any]]:
    """Rows of ``url,label`` (label optional; a first row ``url,label`` is a header)."""
    entries = []
    for number, row in enumerate(csv.reader(io.StringIO(text))):
        cells = [cell.strip() for cell in row]
        if not cells or not any(cells):
            continue
        if number == 0 and cells[0].lower() in ("url", "urls", "address", "link"):
            continue
        url = cells[0]
        label = cells[1] if len(cells) > 1 and cells[1] else None
        entries.append({"url": url, "label": label})
    if not entries:
        raise ApplicationError(
            "The CSV has no rows. Each row should be: address of the image, label.",
            code="empty_csv",
        )
    return entries


def _decode_text(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ApplicationError("The CSV file must be UTF-8 text.", code="invalid_csv")


def import_job_create(
    *,
    project: Project,
    created_by=None,
    upload: Any = None,
    urls: Any = None,
    csv_text: str | None = None,
    label: str | None = None,
) -> ImportJob:
    """Start a background import from a zip or CSV file (``upload``), a list of ``urls``,
    or CSV text. A zip's folders name the labels (``label`` applies to files outside any
    folder); for URLs, ``label`` applies to rows without one. Checks what can be checked
    at once (is it a zip, how many members, how big), so mistakes get a 400 right away."""
    default_label = label_name_clean(label) if label and label.strip() else None
    job = ImportJob(project=project, created_by=created_by, label=default_label or "")
    if upload is not None:
        name = getattr(upload, "name", "") or ""
        job.upload_filename = filename_clean(name, fallback="upload")
        if name.lower().endswith(".csv"):
            raw = _read_capped(upload, MAX_CSV_BYTES)
            if len(raw) > MAX_CSV_BYTES:
                raise ApplicationError("The CSV file is larger than 10 MB.", code="csv_too_large")
            csv_text = _decode_text(raw)
        else:
            size = getattr(upload, "size", None)
            if size is not None and size > settings.MAX_ZIP_BYTES:
                raise ApplicationError(
                    f"The zip archive is larger than the "
                    f"{settings.MAX_ZIP_BYTES / 1024**3:.1f} GB limit.",
                    code="zip_too_large",
                )
            job.kind = ImportJob.Kind.ZIP
            job.total = _zip_check_directory(upload)
            upload.seek(0)
            job.upload = default_storage.save(
                f"projects/{project.pk}/imports/{uuid.uuid4().hex}.zip", upload
            )
    if csv_text is not None:
        if len(csv_text) > MAX_CSV_BYTES:
            raise ApplicationError("The CSV text is larger than 10 MB.", code="csv_too_large")
        job.kind = ImportJob.Kind.CSV
        job.urls = _url_entries(_csv_entries(csv_text), default_label=default_label)
        job.total = len(job.urls)
    elif urls is not None:
        job.kind = ImportJob.Kind.URLS
        job.urls = _url_entries(urls, default_label=default_label)
        job.total = len(job.urls)
    if not job.kind:
        raise ApplicationError(
            'Send a .zip or .csv file, a list of "urls", or "csv" text.', code="nothing_to_import"
        )
    job.report = IngestReport().as_dict()
    try:
        with transaction.atomic():
            job.save()
            _dispatch_import(job.pk)
    except BaseException:
        if job.upload:
            storage_files_delete(names=[job.upload.name])
        raise
    return job


def import_job_retry(*, job: ImportJob) -> ImportJob:
    """Queue a failed import again; it goes on where it stopped (images already stored are
    not stored twice)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportJob.Status.FAILED:
            raise ApplicationError(
                "Only a failed import can be retried.", code="not_failed", status_code=409
            )
        if job.kind == ImportJob.Kind.ZIP and not job.upload:
            raise ApplicationError(
                "The archive of this import is no longer stored. Upload it again.",
                code="upload_gone",
            )
        job.status = ImportJob.Status.QUEUED
        job.error = ""
        job.finished_at = None
        job.save(update_fields=["status", "error", "finished_at", "updated_at"])
        _dispatch_import(job.pk)
    return job


def import_jobs_reap_stale(*, stale_after: float) -> int:
    """Mark running imports whose worker stopped sending heartbeats (killed, lost) as
    failed, so the user sees it and can retry. Returns how many were reaped."""
    now = timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    stale = ImportJob.objects.filter(status=ImportJob.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    return stale.update(
        status=ImportJob.Status.FAILED,
        error=(
            "The import stopped unexpectedly (the worker was restarted or ran out of "
            "memory). The images imported so far are kept; retry to import the rest."
        ),
        finished_at=now,
        updated_at=now,
    )


def _import_job_claim(job_id: int) -> ImportJob | None:
    """Take a queued job for this worker; None if it is gone, running or finished (a
    re-delivered message must not run a job twice)."""
    with transaction.atomic():
        job = (
            # of=("self",): PostgreSQL refuses FOR UPDATE on the nullable side of the
            # outer join to created_by, and only the job row needs the lock.
            ImportJob.objects.select_for_update(of=("self",))
            .select_related("project", "created_by")
            .filter(pk=job_id)
            .first()
        )
        if job is None or job.status != ImportJob.Status.QUEUED:
            return None
        now = timezone.now()
        job.status = ImportJob.Status.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.save(update_fields=["status", "attempts", "started_at", "heartbeat_at", "updated_at"])
    return job


def _import_job_finish(job: ImportJob, *, error: str = "") -> None:
    now = timezone.now()
    fields = {
        "status": ImportJob.Status.FAILED if error else ImportJob.Status.SUCCEEDED,
        "error": error,
        "finished_at": now,
        "heartbeat_at": now,
        "updated_at": now,
    }
    with transaction.atomic():
        # Only the run that holds the job closes it (the reaper may have failed it).
        ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING).update(**fields)
        if not error and job.upload:
            storage_files_delete_later(names=[job.upload.name])
            ImportJob.objects.filter(pk=job.pk).update(upload="")


class _ImportRun:
    """One attempt at an import job: feeds its items to an ingestor, and saves progress
    with each batch of rows, so that a retry skips exactly what was committed."""

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.ingestor = ImageIngestor(
            project=job.project,
            uploaded_by=job.created_by,
            source={
                ImportJob.Kind.ZIP: Image.Source.ZIP,
                ImportJob.Kind.URLS: Image.Source.URL,
                ImportJob.Kind.CSV: Image.Source.CSV,
            }[job.kind],
            label_source=LabelEvent.Source.IMPORT,
            report=IngestReport.from_dict(job.report),
        )
        self.done = job.processed  # items committed by earlier attempts
        self.heartbeat = float(getattr(settings, "JOB_HEARTBEAT_SECONDS", 5.0))
        self._last_flush = time.monotonic()

    def item_done(self) -> None:
        self.done += 1
        if (
            self.ingestor.pending_count >= FLUSH_EVERY_FILES
            or time.monotonic() - self._last_flush >= self.heartbeat
        ):
            self.flush()

    def flush(self) -> None:
        done = self.done
        ingestor = self.ingestor

        def save_progress() -> None:
            now = timezone.now()
            updated = ImportJob.objects.filter(
                pk=self.job.pk, status=ImportJob.Status.RUNNING
            ).update(
                processed=done, report=ingestor.report.as_dict(), heartbeat_at=now, updated_at=now
            )
            if not updated:
                # The reaper took the job for dead meanwhile: roll this batch back and stop.
                raise ApplicationError("The import was stopped.", code="import_stopped")

        ingestor.flush(before_commit=save_progress)
        self._last_flush = time.monotonic()


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import (the Celery task's body). Safe to call twice."""
    from celery.exceptions import SoftTimeLimitExceeded

    job = _import_job_claim(job_id)
    if job is None:
        return None
    run = _ImportRun(job)
    error = ""
    try:
        if job.kind == ImportJob.Kind.ZIP:
            _run_zip(run)
        else:
            _run_urls(run)
        run.flush()
    except SoftTimeLimitExceeded:
        error = "The import took too long and was stopped. The images imported so far are kept."
    except ApplicationError as exc:
        error = exc.message
    except Exception as exc:  # noqa: BLE001 - the job row must say it failed
        logger.exception("import %s failed", job.pk)
        error = f"The import failed unexpectedly ({exc.__class__.__name__}). The images imported so far are kept."
    if error:
        try:
            run.flush()  # keep what was checked since the last batch, if still possible
        except Exception:  # noqa: BLE001
            logger.warning("import %s: could not save the last batch", job.pk, exc_info=True)
    _import_job_finish(job, error=error)
    job.refresh_from_db()
    return job


# --- Zip imports -------------------------------------------------------------------------

_DRIVE = re.compile(r"^[A-Za-z]:")


def _zip_member_place(name: str) -> tuple[str, str | None, str]:
    """("skip" | "reject" | "ok", label or message, split) for one member path."""
    path = name.replace("\\", "/")
    if path.startswith("/") or _DRIVE.match(path) or ".." in path.split("/"):
        return (
            "reject",
            'This path points outside the archive (".." or an absolute path); the file was not imported.',
            "",
        )
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        return "skip", "empty name", ""
    if parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
        return "skip", "hidden or system file", ""
    if parts[-1].lower() in IGNORED_NAMES:
        return "skip", "system file", ""
    if parts[-1].lower().endswith(ARCHIVE_EXTENSIONS):
        return (
            "reject",
            "Archives inside the zip are not opened. Unpack it and put its images in the main zip.",
            "",
        )
    folders = parts[:-1]
    split = ""
    label: str | None = None
    split_index = next(
        (i for i, folder in enumerate(folders) if folder.lower() in SPLIT_FOLDERS), None
    )
    if split_index is not None:
        split = SPLIT_FOLDERS[folders[split_index].lower()]
        label = folders[split_index + 1] if split_index + 1 < len(folders) else None
    elif folders:
        label = folders[-1]
    return "ok", label, split


def _run_zip(run: _ImportRun) -> None:
    job = run.job
    ingestor = run.ingestor
    budget = settings.MAX_ZIP_UNCOMPRESSED_BYTES
    read_total = 0
    with default_storage.open(job.upload.name, "rb") as handle, zipfile.ZipFile(handle) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > settings.MAX_ZIP_MEMBERS:
            raise ApplicationError(
                f"The zip archive holds more than {settings.MAX_ZIP_MEMBERS} files.",
                code="zip_too_many_members",
            )
        for info in members[run.done :]:
            shown = filename_clean(info.filename, keep_folders=True)
            verdict, detail, split = _zip_member_place(info.filename)
            if verdict == "skip":
                ingestor.skip(shown, detail or "")
            elif verdict == "reject":
                ingestor.reject(shown, detail or "", code="unsafe_member")
            elif info.flag_bits & 0x1:
                ingestor.reject(
                    shown, "This file is password-protected in the zip.", code="encrypted"
                )
            elif (info.external_attr >> 16) & 0o170000 == 0o120000:
                ingestor.reject(shown, "Links inside the zip are not followed.", code="link")
            elif info.file_size > ingestor.max_bytes:
                ingestor.reject(shown, _too_big_message(ingestor.max_bytes), code="too_large")
            else:
                cap = min(ingestor.max_bytes, budget - read_total)
                try:
                    with archive.open(info) as member:
                        data = member.read(cap + 1)
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError):
                    ingestor.reject(
                        shown, "This file is damaged inside the zip archive.", code="corrupt"
                    )
                    run.item_done()
                    continue
                read_total += len(data)
                if read_total > budget:
                    raise ApplicationError(
                        "The zip archive unpacks to more data than allowed "
                        f"({budget / 1024**3:.1f} GB); the rest was not imported.",
                        code="zip_too_large",
                    )
                if data[:4] == b"PK\x03\x04":
                    ingestor.reject(
                        shown,
                        "Archives inside the zip are not opened. Unpack it and put its images in the main zip.",
                        code="nested_archive",
                    )
                else:
                    ingestor.add(
                        IncomingFile(
                            filename=info.filename,
                            data=data,
                            label=detail,
                            split=split,
                            split_locked=bool(split),
                        )
                    )
            run.item_done()


# --- URL and CSV imports -----------------------------------------------------------------


class _FetchFailed(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _url_display_name(url: str) -> str:
    path = urlsplit(url).path
    return filename_clean(unquote(path.rstrip("/").rsplit("/", 1)[-1]) or "image")


def url_fetch(url: str, *, client: Any, max_bytes: int, timeout: float) -> bytes:
    """Download one image: http/https only, at most ``max_bytes`` (the download stops as
    soon as it is past the limit), and at most ``timeout`` seconds in all."""
    import httpx

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise _FetchFailed(
            "Only http:// and https:// addresses can be imported.", "unsupported_url"
        )
    if not parts.hostname:
        raise _FetchFailed("This is not a valid web address.", "invalid_url")
    deadline = time.monotonic() + timeout
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                reason = response.reason_phrase or ""
                raise _FetchFailed(
                    f"The server answered {response.status_code} {reason}".strip() + ".",
                    "http_error",
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _FetchFailed(_too_big_message(max_bytes), "too_large")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise _FetchFailed(_too_big_message(max_bytes), "too_large")
                if time.monotonic() > deadline:
                    raise _FetchFailed(
                        f"The download took longer than {timeout:g} seconds.", "timeout"
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException as exc:
        raise _FetchFailed(
            f"The server did not answer within {timeout:g} seconds.", "timeout"
        ) from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise _FetchFailed("This is not a valid web address.", "invalid_url") from exc
    except httpx.TooManyRedirects as exc:
        raise _FetchFailed("The address redirects too many times.", "http_error") from exc
    except httpx.HTTPError as exc:
        raise _FetchFailed(
            f"The image could not be downloaded ({exc.__class__.__name__}).", "network_error"
        ) from exc


def _run_urls(run: _ImportRun) -> None:
    import httpx

    job = run.job
    ingestor = run.ingestor
    timeout = float(settings.URL_FETCH_TIMEOUT)
    entries = list(job.urls)[run.done :]

    with httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": "Bakehouse image import"},
    ) as client:

        def fetch(entry: dict[str, Any]) -> bytes | _FetchFailed:
            url = str(entry.get("url") or "")
            if len(url) > MAX_URL_LENGTH:
                return _FetchFailed("This address is too long.", "invalid_url")
            try:
                return url_fetch(url, client=client, max_bytes=ingestor.max_bytes, timeout=timeout)
            except _FetchFailed as exc:
                return exc

        # Downloads overlap; files are checked and stored one at a time, in order.
        with ThreadPoolExecutor(max_workers=URL_FETCH_CONCURRENCY) as pool:
            for chunk in _chunks(entries, URL_FETCH_CONCURRENCY * 4):
                for entry, result in zip(chunk, pool.map(fetch, chunk), strict=True):
                    url = str(entry.get("url") or "")
                    shown = url[:300]
                    if isinstance(result, _FetchFailed):
                        ingestor.reject(shown, result.message, code=result.code)
                    else:
                        ingestor.add(
                            IncomingFile(
                                filename=shown,
                                data=result,
                                label=entry.get("label") or job.label or None,
                                source_url=url,
                                display_name=_url_display_name(url),
                            )
                        )
                    run.item_done()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
