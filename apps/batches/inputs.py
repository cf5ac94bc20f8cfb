"""A batch's inputs: the members of its zip archive or its image addresses, checked when the
batch is submitted and read one by one, in order, when it runs.

Every input is one result row, in a fixed order (the archive's central directory order,
less folders and system files; or the list of addresses), so a resumed batch starts at the
first index not yet written. An input that cannot be read (a damaged, encrypted or too large
member, a link, a nested archive, an address that does not answer) becomes its row's error;
the batch goes on. The archive is read from the media storage (S3 on the full stack)
member by member, never unpacked as a whole; addresses go through the one guarded fetcher
(``apps.core.fetch``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files.storage import default_storage

from apps.core.exceptions import ApplicationError
from apps.core.fetch import MAX_URL_LENGTH, FetchError, fetch_url
from apps.datasets.ingest import filename_clean, too_big_message
from apps.datasets.zips import (
    ARCHIVE_EXTENSIONS,
    IGNORED_NAMES,
    zip_check_directory,
)
from apps.deployments.inputs import max_image_bytes

URL_FETCH_CONCURRENCY = 4
NOT_A_ZIP_MESSAGE = "This file is not a zip archive. Upload a .zip file of images."
NESTED_ARCHIVE_ERROR = "Archives inside the zip are not opened."
DAMAGED_ERROR = "This file is damaged inside the zip archive."


@dataclass(frozen=True, slots=True)
class BatchInput:
    """One input: its row's index and name, and its bytes, or why there are none."""

    index: int
    name: str
    data: bytes | None
    error: str = ""


def _is_row(info: zipfile.ZipInfo) -> bool:
    """Folders, macOS resource forks, hidden and system files are not inputs."""
    if info.is_dir():
        return False
    parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
        return False
    return parts[-1].lower() not in IGNORED_NAMES


def _too_many(count: int) -> ApplicationError:
    return ApplicationError(
        f"The zip archive holds {count} images; a batch takes at most "
        f"{settings.BATCH_MAX_IMAGES}. Split it into several batches.",
        code="batch_too_many_images",
    )


def archive_check(upload: BinaryIO, *, size: int | None) -> int:
    """Check an uploaded archive before it is stored: its size, that it is a zip, its
    entry count and unpacked size (``apps.datasets.zips``), and that it holds at least one
    image. Returns how many rows the batch will have. Raises ``ApplicationError`` (400)."""
    limit = int(settings.BATCH_MAX_ARCHIVE_BYTES)
    if size is not None and size > limit:
        raise ApplicationError(
            f"The zip archive is larger than the {limit / 1024**2:.0f} MB limit for a batch. "
            "Split it into several batches.",
            code="batch_archive_too_large",
        )
    try:
        zip_check_directory(upload)
    except ApplicationError as exc:
        if exc.code == "not_a_zip":
            raise ApplicationError(NOT_A_ZIP_MESSAGE, code="not_a_zip") from exc
        raise
    with zipfile.ZipFile(upload) as archive:
        rows = sum(1 for info in archive.infolist() if _is_row(info))
    upload.seek(0)
    if rows == 0:
        raise ApplicationError(
            "The zip archive holds no images (only folders or system files).", code="zip_empty"
        )
    if rows > int(settings.BATCH_MAX_IMAGES):
        raise _too_many(rows)
    return rows


def urls_check(urls: Any) -> list[str]:
    """The submitted addresses, stripped. Raises ``ApplicationError`` (400)."""
    if not isinstance(urls, list) or not urls:
        raise ApplicationError('Send a list of image addresses in "urls".', code="no_urls")
    limit = int(settings.BATCH_MAX_URLS)
    if len(urls) > limit:
        raise ApplicationError(
            f"A batch takes at most {limit} addresses; this one has {len(urls)}. "
            "Split them into several batches.",
            code="too_many_urls",
        )
    cleaned = []
    for number, url in enumerate(urls, start=1):
        if not isinstance(url, str) or not url.strip():
            raise ApplicationError(
                f"Address {number} is not text. Send each address as a string.",
                code="invalid_url",
            )
        url = url.strip()
        if len(url) > MAX_URL_LENGTH:
            raise ApplicationError(
                f"Address {number} is longer than {MAX_URL_LENGTH} characters.",
                code="invalid_url",
            )
        if not url.lower().startswith(("http://", "https://")):
            raise ApplicationError(
                f"Address {number} ({url[:80]}) does not start with http:// or https://.",
                code="invalid_url",
            )
        cleaned.append(url)
    return cleaned


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, index: int) -> BatchInput:
    name = filename_clean(info.filename, keep_folders=True)
    max_bytes = max_image_bytes()
    if info.flag_bits & 0x1:
        return BatchInput(index, name, None, "This file is password-protected in the zip.")
    if (info.external_attr >> 16) & 0o170000 == 0o120000:
        return BatchInput(index, name, None, "Links inside the zip are not followed.")
    if info.filename.lower().endswith(ARCHIVE_EXTENSIONS):
        return BatchInput(index, name, None, NESTED_ARCHIVE_ERROR)
    if info.file_size > max_bytes:
        return BatchInput(index, name, None, too_big_message(max_bytes))
    try:
        with archive.open(info) as member:
            # At most one byte past the limit, whatever the header declared (a zip bomb's
            # member stops there).
            data = member.read(max_bytes + 1)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError):
        return BatchInput(index, name, None, DAMAGED_ERROR)
    if len(data) > max_bytes:
        return BatchInput(index, name, None, too_big_message(max_bytes))
    if data[:4] == b"PK\x03\x04":
        return BatchInput(index, name, None, NESTED_ARCHIVE_ERROR)
    return BatchInput(index, name, data)


def archive_inputs(storage_name: str, *, start: int) -> Iterator[BatchInput]:
    """The archive's inputs from index ``start`` on, read from the media storage."""
    with default_storage.open(storage_name, "rb") as handle, zipfile.ZipFile(handle) as archive:
        rows = [info for info in archive.infolist() if _is_row(info)]
        for index in range(start, len(rows)):
            yield _member(archive, rows[index], index)


def url_inputs(urls: list[str], *, start: int) -> Iterator[BatchInput]:
    """The addresses' images from index ``start`` on; downloads overlap, rows come in order."""
    timeout = float(settings.URL_FETCH_TIMEOUT)
    max_bytes = max_image_bytes()

    def fetch(url: str) -> bytes | FetchError:
        try:
            return fetch_url(
                url, max_bytes=max_bytes, timeout=timeout, user_agent="Bakehouse batch"
            ).data
        except FetchError as exc:
            return exc

    step = URL_FETCH_CONCURRENCY * 4
    with ThreadPoolExecutor(max_workers=URL_FETCH_CONCURRENCY) as pool:
        for first in range(start, len(urls), step):
            chunk = urls[first : first + step]
            for offset, (url, result) in enumerate(zip(chunk, pool.map(fetch, chunk), strict=True)):
                if isinstance(result, FetchError):
                    yield BatchInput(first + offset, url, None, result.message)
                else:
                    yield BatchInput(first + offset, url, result)
