"""A batch's results as CSV or JSON, streamed row by row (10,000 rows never sit in memory
as one document). One row per input, in input order: name (the archive member or the URL),
label, confidence, uncertain, out_of_distribution, error."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator

from apps.batches.models import BatchItem, BatchJob
from apps.batches.selectors import batch_rows

COLUMNS = ("index", "name", "label", "confidence", "uncertain", "out_of_distribution", "error")
# A spreadsheet runs a cell that starts with one of these as a formula; a file name in a
# user's zip must not (CSV injection). Such cells get a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """A file-like object whose write returns what was written (for csv.writer)."""

    def write(self, value: str) -> str:
        return value


def _safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _flag(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def row_dict(item: BatchItem) -> dict[str, object]:
    return {
        "index": item.index,
        "name": item.name,
        "label": item.label or None,
        "confidence": item.confidence,
        "uncertain": item.uncertain,
        "out_of_distribution": item.out_of_distribution,
        "error": item.error or None,
    }


def results_csv(batch: BatchJob) -> Iterator[str]:
    """The header, then one line per row (empty cells for what a failed row lacks)."""
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    for item in batch_rows(batch=batch):
        yield writer.writerow(
            (
                item.index,
                _safe(item.name),
                _safe(item.label),
                "" if item.confidence is None else f"{item.confidence:.6f}",
                _flag(item.uncertain),
                _flag(item.out_of_distribution),
                _safe(item.error),
            )
        )


def results_json(batch: BatchJob, header: dict[str, object]) -> Iterator[str]:
    """``{...header, "results": [row, ...]}``, written piece by piece."""
    opening = json.dumps({**header, "results": []})
    yield opening[:-2]  # without the closing "]}"
    for number, item in enumerate(batch_rows(batch=batch)):
        yield ("," if number else "") + json.dumps(row_dict(item))
    yield "]}"
