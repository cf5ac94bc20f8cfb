"""Zip archives: checked before they are accepted, then read member by member by an
import (see ``apps.datasets.imports``).

A zip's folders name the labels (``ants/a.jpg``), and train / val / test folders set the
split (``train/ants/a.jpg``). Hostile members (paths out of the archive, links, nested
archives, encrypted or damaged files) are turned away one by one; a member count or an
unpacked size past the limits refuses the whole archive.
"""

from __future__ import annotations

import re
import struct
import zipfile
from typing import TYPE_CHECKING, BinaryIO

from django.conf import settings
from django.core.files.storage import default_storage

from apps.core.exceptions import ApplicationError
from apps.datasets.ingest import IncomingFile, filename_clean, too_big_message
from apps.datasets.models import Split

if TYPE_CHECKING:
    from apps.datasets.imports import ImportRun

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
NOT_A_ZIP_MESSAGE = (
    "This file is not a zip archive. Upload a .zip file whose folders are named after your "
    "labels (for example ants/ and bees/)."
)

# The end of central directory record: signature, then (at offset 10) the total number of
# entries; it sits in the last 22 bytes plus a comment of at most 65,535 bytes.
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def zip_declared_member_count(handle: BinaryIO) -> int | None:
    """The number of entries the archive's end record declares, read from its last bytes
    only (not the central directory, which can be huge); None if there is no end record."""
    handle.seek(0, 2)
    size = handle.tell()
    tail_size = min(size, _EOCD_SIZE + 65_535)
    handle.seek(size - tail_size)
    tail = handle.read(tail_size)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        return None
    (count,) = struct.unpack_from("<H", tail, at + 10)
    if count != 0xFFFF:
        return count
    # Zip64: a locator just before the end record points at the zip64 end record.
    locator = at - 20
    if locator < 0 or tail[locator : locator + 4] != _ZIP64_LOCATOR:
        return count
    (offset,) = struct.unpack_from("<Q", tail, locator + 8)
    handle.seek(offset)
    record = handle.read(56)
    if len(record) < 40 or record[:4] != _ZIP64_EOCD:
        return None
    (count64,) = struct.unpack_from("<Q", record, 32)
    return count64


def _too_many_members(count: int) -> ApplicationError:
    return ApplicationError(
        f"The zip archive holds {count} entries; the limit is {settings.MAX_ZIP_MEMBERS}. "
        "Split it into smaller archives.",
        code="zip_too_many_members",
    )


def zip_check_directory(upload: BinaryIO) -> int:
    """Check a zip before accepting it: its declared entry count first (from the end
    record, before the central directory is parsed), then its central directory. Returns
    its file count."""
    try:
        upload.seek(0)
        declared = zip_declared_member_count(upload)
        if declared is None:
            raise ApplicationError(NOT_A_ZIP_MESSAGE, code="not_a_zip")
        if declared > settings.MAX_ZIP_MEMBERS:
            raise _too_many_members(declared)
        upload.seek(0)
        with zipfile.ZipFile(upload) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, struct.error, OSError, EOFError, ValueError) as exc:
        raise ApplicationError(
            "The zip archive is damaged and cannot be opened.", code="bad_zip"
        ) from exc
    files = [info for info in infos if not info.is_dir()]
    if len(infos) > settings.MAX_ZIP_MEMBERS:
        raise _too_many_members(len(infos))
    declared_size = sum(info.file_size for info in files)
    if declared_size > settings.MAX_ZIP_UNCOMPRESSED_BYTES:
        raise ApplicationError(
            f"The zip archive unpacks to {declared_size / 1024**3:.1f} GB; the limit is "
            f"{settings.MAX_ZIP_UNCOMPRESSED_BYTES / 1024**3:.1f} GB. Split it into "
            "smaller archives.",
            code="zip_too_large",
        )
    if not files:
        raise ApplicationError("The zip archive is empty.", code="zip_empty")
    upload.seek(0)
    return len(files)


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


def zip_import(run: ImportRun) -> None:
    """Feed the archive's members, from where the last attempt stopped, to the run."""
    job = run.job
    ingestor = run.ingestor
    budget = settings.MAX_ZIP_UNCOMPRESSED_BYTES
    read_total = 0
    with default_storage.open(job.upload.name, "rb") as handle:
        declared = zip_declared_member_count(handle)
        if declared is not None and declared > settings.MAX_ZIP_MEMBERS:
            raise _too_many_members(declared)
        handle.seek(0)
        with zipfile.ZipFile(handle) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) > settings.MAX_ZIP_MEMBERS:
                raise _too_many_members(len(members))
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
                    ingestor.reject(shown, too_big_message(ingestor.max_bytes), code="too_large")
                else:
                    cap = min(ingestor.max_bytes, budget - read_total)
                    try:
                        with archive.open(info) as member:
                            data = member.read(cap + 1)
                    except (
                        zipfile.BadZipFile,
                        NotImplementedError,
                        RuntimeError,
                        OSError,
                        EOFError,
                    ):
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
                            "Archives inside the zip are not opened. Unpack it and put its "
                            "images in the main zip.",
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
