"""Background imports: a zip archive, a list of URLs, or a CSV of ``url,label`` rows.

``import_job_create`` checks what can be checked at once (so mistakes get a 400 right
away), saves the ImportJob and dispatches it through the job machine
(``apps.core.jobs``). The task runs ``import_job_run``: it claims the row (only a queued
job starts; the attempt number fences every later write), feeds the items to an
``ImageIngestor`` and saves its progress with each batch of rows, in the same
transaction, so a retried or re-queued import goes on exactly where the last committed
batch ended, and a stale attempt can never write.
"""

from __future__ import annotations

import csv
import io
import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction

from apps.core.exceptions import ApplicationError
from apps.core.fetch import FetchError, fetch_url
from apps.core.jobs import (
    job_claim,
    job_dispatch,
    job_finish,
    job_heartbeat,
    job_mark_queued,
    job_submit,
)
from apps.core.storage import (
    project_storage_prefix,
    storage_files_delete_later,
)
from apps.datasets.ingest import (
    LABEL_SOURCE_IMPORT,
    MAX_URL_LENGTH,
    ImageIngestor,
    IncomingFile,
    IngestReport,
    filename_clean,
    read_capped,
)
from apps.datasets.models import Image, ImportJob
from apps.datasets.zips import zip_check_directory, zip_import
from apps.projects.models import Project
from apps.projects.services import label_name_clean

logger = logging.getLogger(__name__)

# An import writes its rows (and saves its progress and report) after this many files, or
# after JOB_HEARTBEAT_SECONDS, whichever comes first. Not much more often: each save
# rewrites the whole report, which grows with the archive.
FLUSH_EVERY_FILES = 500
MAX_CSV_BYTES = 10 * 1024 * 1024
URL_FETCH_CONCURRENCY = 4
LOST_IMPORT_ERROR = (
    "The import stopped unexpectedly (the worker was restarted or ran out of memory). "
    "The images imported so far are kept; retry to import the rest."
)
# What an import of each kind records as its images' source. Keyed by str: job.kind is the
# column's plain value.
IMAGE_SOURCE_OF_KIND: dict[str, str] = {
    ImportJob.Kind.ZIP: Image.Source.ZIP,
    ImportJob.Kind.URLS: Image.Source.URL,
    ImportJob.Kind.CSV: Image.Source.CSV,
}


# --- Creating and retrying ---------------------------------------------------------------


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
    created_by: Any = None,
    upload: Any = None,
    urls: Any = None,
    csv_text: str | None = None,
    label: str | None = None,
) -> ImportJob:
    """Start a background import from a zip or CSV file (``upload``), a list of ``urls``,
    or CSV text. A zip's folders name the labels (``label`` applies to files outside any
    folder); for URLs, ``label`` applies to rows without one. Checks what can be checked
    at once (is it a zip, how many members, how big), so mistakes get a 400 right away.
    A job queue that does not answer is a 503 (``broker_unavailable``); the job is then
    saved as failed and can be retried."""
    default_label = label_name_clean(label) if label and label.strip() else None
    job = ImportJob(project=project, created_by=created_by, label=default_label or "")
    if upload is not None:
        name = getattr(upload, "name", "") or ""
        job.upload_filename = filename_clean(name, fallback="upload")
        if name.lower().endswith(".csv"):
            raw = read_capped(upload, MAX_CSV_BYTES)
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
            job.total = zip_check_directory(upload)
            upload.seek(0)
            job.upload = default_storage.save(
                f"{project_storage_prefix(project.pk)}imports/{uuid.uuid4().hex}.zip", upload
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
    # The row exists (failed) when the broker did not answer: its archive stays, so a retry
    # needs no second upload.
    return job_submit(
        job,
        stored_files=[job.upload.name],
        keep_files_when_broker_down=True,
    )


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
        job.save(update_fields=job_mark_queued(job))
        job_dispatch(job)
    return job


# --- Running -----------------------------------------------------------------------------


class ImportRun:
    """One attempt at an import job: feeds its items to an ingestor, and saves progress
    with each batch of rows, so that a retry skips exactly what was committed."""

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.ingestor = ImageIngestor(
            project=job.project,
            uploaded_by=job.created_by,
            source=IMAGE_SOURCE_OF_KIND[job.kind],
            label_source=LABEL_SOURCE_IMPORT,
            report=IngestReport.from_dict(job.report),
        )
        self.done = job.processed  # items committed by earlier attempts
        self.heartbeat = float(settings.JOB_HEARTBEAT_SECONDS)
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
            if not job_heartbeat(self.job, processed=done, report=ingestor.report.as_dict()):
                # This attempt lost the job (reaped, or another attempt holds it): roll
                # this batch back and stop.
                raise ApplicationError("The import was stopped.", code="import_stopped")

        ingestor.flush(before_commit=save_progress)
        self._last_flush = time.monotonic()


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import (the Celery task's body). Safe to call twice: a second delivery
    finds the job taken and does nothing."""
    from celery.exceptions import SoftTimeLimitExceeded

    job = job_claim(ImportJob, job_id, related=("project", "created_by"))
    if job is None:
        return None
    run = ImportRun(job)
    error = ""
    try:
        if job.kind == ImportJob.Kind.ZIP:
            zip_import(run)
        else:
            _urls_import(run)
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
    status = ImportJob.Status.FAILED if error else ImportJob.Status.SUCCEEDED
    with transaction.atomic():
        finished = job_finish(job, status=status, error=error)
        if finished and not error and job.upload:
            storage_files_delete_later(names=[job.upload.name])
            ImportJob.objects.filter(pk=job.pk).update(upload="")
    job.refresh_from_db()
    return job


# --- URL and CSV imports -----------------------------------------------------------------


def _url_display_name(url: str) -> str:
    path = urlsplit(url).path
    return filename_clean(unquote(path.rstrip("/").rsplit("/", 1)[-1]) or "image")


def _urls_import(run: ImportRun) -> None:
    job = run.job
    ingestor = run.ingestor
    timeout = float(settings.URL_FETCH_TIMEOUT)
    entries = list(job.urls)[run.done :]

    def fetch(entry: dict[str, Any]) -> bytes | FetchError:
        url = str(entry.get("url") or "")
        if len(url) > MAX_URL_LENGTH:
            return FetchError("address too long")
        try:
            return fetch_url(
                url, max_bytes=ingestor.max_bytes, timeout=timeout, user_agent="Bakehouse import"
            ).data
        except FetchError as exc:
            return exc

    # Downloads overlap; files are checked and stored one at a time, in order.
    with ThreadPoolExecutor(max_workers=URL_FETCH_CONCURRENCY) as pool:
        for chunk in _chunks(entries, URL_FETCH_CONCURRENCY * 4):
            for entry, result in zip(chunk, pool.map(fetch, chunk), strict=True):
                url = str(entry.get("url") or "")
                shown = url[:300]
                if isinstance(result, FetchError):
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
