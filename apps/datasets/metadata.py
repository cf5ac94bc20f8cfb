"""Attaching metadata columns (camera, site, date, customer...) to a project's images from a
CSV, matched by its first column: the file name, or (a first column named ``external_id``)
the external id an earlier CSV attached. The values become ``Image.metadata`` keys: filterable in the image list
(``meta.<key>=<value>``) and the slices of the accuracy per value."""

from __future__ import annotations

import csv
import io
import posixpath
from collections import defaultdict
from typing import Any

from django.db import transaction
from rest_framework import status

from apps.core.exceptions import ApplicationError
from apps.datasets.models import Image
from apps.projects.models import Project

MAX_CSV_BYTES = 5 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 50
MAX_KEY_LENGTH = 64
MAX_VALUE_LENGTH = 200
# Unmatched first-column values quoted back (the count is always complete).
UNMATCHED_SHOWN = 50
EXTERNAL_ID = "external_id"


def _bad(message: str, code: str = "invalid_csv") -> ApplicationError:
    return ApplicationError(message, code=code, extra={"fields": {"file": [message]}})


def _read(upload: Any) -> tuple[list[str], list[list[str]]]:
    """The header and rows of an uploaded CSV, or a plain 4xx."""
    if upload is None:
        raise _bad('Send the CSV as "file" (multipart form).', code="file_required")
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_CSV_BYTES:
        raise ApplicationError(
            f"The CSV is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB. Split it in parts.",
            code="too_large",
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    data = upload.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise ApplicationError(
            f"The CSV is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB. Split it in parts.",
            code="too_large",
            status_code=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad("The CSV is not UTF-8 text. Save it as CSV UTF-8 and try again.") from exc
    if not text.strip():
        raise _bad("The CSV is empty.", code="csv_empty")
    first_line = text.lstrip().splitlines()[0]
    delimiter = max(",;\t", key=first_line.count)
    try:
        table = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if any(row)]
    except csv.Error as exc:
        raise _bad(f"The CSV could not be read: {exc}.") from exc
    header = [cell.strip() for cell in table[0]]
    rows = table[1:]
    if len(header) < 2:
        raise _bad(
            "The CSV needs a header row and at least two columns: the file name (or "
            "external_id), then the columns to attach.",
            code="csv_no_columns",
        )
    if len(header) > MAX_COLUMNS:
        raise _bad(f"The CSV has more than {MAX_COLUMNS} columns.")
    if len(rows) > MAX_ROWS:
        raise _bad(f"The CSV has more than {MAX_ROWS:,} rows. Split it in parts.")
    if any(not name for name in header):
        raise _bad("Every column needs a name in the header row.")
    if len({name.lower() for name in header}) != len(header):
        raise _bad("Two columns of the header have the same name.")
    too_long = [name for name in header if len(name) > MAX_KEY_LENGTH]
    if too_long:
        raise _bad(f"The column name {too_long[0][:80]!r} is longer than {MAX_KEY_LENGTH}.")
    return header, rows


def image_metadata_attach(*, project: Project, upload: Any) -> dict[str, Any]:
    """Merge the CSV's columns into the matching images' metadata (an empty cell leaves the
    key as it was). Rows match by the first column: against the images' ``external_id``
    metadata (attached by an earlier CSV) when that column is named ``external_id``, else
    against the file name (exactly, else by its last path part, any case). Returns the
    report."""
    header, rows = _read(upload)
    by_external = header[0].lower() == EXTERNAL_ID
    keys = [(k, name) for k, name in enumerate(header) if k != 0]

    images = list(Image.objects.filter(project=project).only("id", "original_filename", "metadata"))
    exact: dict[str, list[Image]] = defaultdict(list)
    loose: dict[str, list[Image]] = defaultdict(list)
    for image in images:
        if by_external:
            value = (image.metadata or {}).get(EXTERNAL_ID)
            if value not in (None, ""):
                exact[str(value)].append(image)
        else:
            exact[image.original_filename].append(image)
            loose[posixpath.basename(image.original_filename.replace("\\", "/")).lower()].append(
                image
            )

    changed: dict[int, Image] = {}
    matched_rows = 0
    unmatched: list[str] = []
    unmatched_rows = 0
    for row in rows:
        cells = [cell.strip() for cell in row] + [""] * (len(header) - len(row))
        name = cells[0]
        targets = exact.get(name) or (
            [] if by_external else loose.get(posixpath.basename(name.replace("\\", "/")).lower())
        )
        if not name or not targets:
            unmatched_rows += 1
            if len(unmatched) < UNMATCHED_SHOWN:
                unmatched.append(name)
            continue
        matched_rows += 1
        values = {key: cells[k][:MAX_VALUE_LENGTH] for k, key in keys if cells[k]}
        for image in targets:
            image.metadata = {**(image.metadata or {}), **values}
            changed[image.pk] = image
    with transaction.atomic():
        Image.objects.bulk_update(list(changed.values()), ["metadata"], batch_size=500)
    return {
        "matched_by": EXTERNAL_ID if by_external else "filename",
        "keys": [key for _, key in keys],
        "rows": len(rows),
        "matched_rows": matched_rows,
        "unmatched_rows": unmatched_rows,
        "unmatched": unmatched,
        "images_updated": len(changed),
    }
