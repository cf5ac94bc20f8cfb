"""Writing the prediction log off the request's path.

A request puts one ``LogEntry`` per image on this process's queue and answers at once; a
background thread takes what has queued (every ``PREDICTION_LOG_INTERVAL`` seconds, at most
``PREDICTION_LOG_BATCH`` at a time), saves the images to storage and bulk-creates the rows.

The id in the answer is the entry's UUID (``PredictionLog.uid``), made in the request, so it
can be quoted before its row exists; the feedback endpoint waits briefly for a row that is
still on its way (``prediction_wait_for``).

Shutdown: gunicorn's ``worker_exit`` hook (and ``atexit``, for any other server) calls
``shutdown()``, which writes everything still queued. A process killed outright (SIGKILL, out
of memory, power loss) loses the entries still queued: at most about one interval's worth
(0.2 s by default) plus the batch being written. The predictions themselves were answered;
only their log rows are missing. If the queue ever holds ``PREDICTION_LOG_MAX_QUEUE``
entries (the database is down or far too slow), new entries are dropped and counted rather
than growing memory without bound.

``PREDICTION_LOG_BACKGROUND = False`` writes each entry in the request instead (unit tests).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import queue
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class LogEntry:
    uid: uuid.UUID
    deployment_id: int
    deployment_slug: str
    model_version_id: int
    label: str
    confidence: float
    predictions: list[dict[str, Any]]
    uncertain: bool
    latency_ms: float
    created_at: datetime
    source: str
    image: bytes | None  # None when the deployment does not store images
    image_ext: str = "jpg"


def image_storage_prefix(slug: str) -> str:
    """Where a deployment's logged images are stored. By slug, not id: SQLite may give a
    deleted deployment's id to the next one, whose images must not share the folder that
    is being deleted."""
    return f"predictions/{slug}/"


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


class PredictionLogWriter:
    def __init__(self) -> None:
        self._queue: queue.Queue[LogEntry] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()
        # Held while a batch is being written, so flush() can wait for the one in flight.
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self.dropped = 0
        self.written = 0

    # --- the request side ------------------------------------------------------------------
    def submit(self, entries: list[LogEntry]) -> None:
        if not _setting("PREDICTION_LOG_BACKGROUND", True):
            self.write(entries)
            return
        self._ensure_thread()
        limit = int(_setting("PREDICTION_LOG_MAX_QUEUE", 20_000))
        for entry in entries:
            if self._queue.qsize() >= limit:
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.error(
                        "prediction log queue full: %d entries dropped so far", self.dropped
                    )
                continue
            self._queue.put_nowait(entry)

    def _ensure_thread(self) -> None:
        # After a fork (gunicorn workers) the parent's thread does not exist in the child.
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            if self._pid != os.getpid():
                self._queue = queue.Queue()
                self._write_lock = threading.Lock()
            self._stopping.clear()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="prediction-log-writer", daemon=True
            )
            self._thread.start()

    # --- the writer thread -----------------------------------------------------------------
    def _take(self, first_timeout: float | None) -> list[LogEntry]:
        batch_size = int(_setting("PREDICTION_LOG_BATCH", 500))
        batch: list[LogEntry] = []
        try:
            if first_timeout is None:
                batch.append(self._queue.get_nowait())
            else:
                batch.append(self._queue.get(timeout=first_timeout))
        except queue.Empty:
            return batch
        while len(batch) < batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        interval = float(_setting("PREDICTION_LOG_INTERVAL", 0.2))
        while not self._stopping.is_set():
            batch = self._take(first_timeout=1.0)
            if not batch:
                continue
            # Holding the lock from here means flush() also waits for the entry in hand.
            with self._write_lock:
                # Let a few more arrive: one insert of many rows beats many inserts (cut
                # short by shutdown()).
                self._stopping.wait(interval)
                batch.extend(self._take(first_timeout=None))
                while batch:
                    self._write_safely(batch)
                    batch = self._take(first_timeout=None)

    def _write_safely(self, batch: list[LogEntry]) -> None:
        from django.db import close_old_connections

        close_old_connections()
        try:
            self.write(batch)
        except Exception:  # noqa: BLE001 - a writer thread that dies would log nothing more
            logger.exception("could not write %d prediction log entries", len(batch))

    # --- writing ---------------------------------------------------------------------------
    def write(self, entries: list[LogEntry]) -> None:
        """Save the entries' images and create their rows (in the calling thread)."""
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage
        from django.db import IntegrityError, transaction

        from apps.deployments.models import PredictionLog

        if not entries:
            return
        rows: list[PredictionLog] = []
        for entry in entries:
            name, sha256 = "", ""
            if entry.image is not None:
                sha256 = hashlib.sha256(entry.image).hexdigest()
                try:
                    name = default_storage.save(
                        f"{image_storage_prefix(entry.deployment_slug)}{entry.uid.hex}.{entry.image_ext}",
                        ContentFile(entry.image),
                    )
                except Exception:  # noqa: BLE001 - keep the row even if the file failed
                    logger.exception("could not store the image of prediction %s", entry.uid)
            rows.append(
                PredictionLog(
                    uid=entry.uid,
                    deployment_id=entry.deployment_id,
                    model_version_id=entry.model_version_id,
                    label=entry.label[:100],
                    confidence=entry.confidence,
                    predictions=entry.predictions,
                    uncertain=entry.uncertain,
                    latency_ms=entry.latency_ms,
                    image=name,
                    image_sha256=sha256,
                    created_at=entry.created_at,
                    source=entry.source,
                )
            )
        try:
            with transaction.atomic():
                PredictionLog.objects.bulk_create(rows)
            self.written += len(rows)
            return
        except IntegrityError:
            pass
        # A deployment deleted meanwhile (or a row already written): one by one, keeping
        # the rows that still fit.
        for row in rows:
            try:
                with transaction.atomic():
                    row.save(force_insert=True)
                self.written += 1
            except IntegrityError:
                if row.image:
                    with contextlib.suppress(Exception):
                        default_storage.delete(row.image.name)

    # --- flushing --------------------------------------------------------------------------
    def flush(self) -> None:
        """Write everything queued now, in the calling thread, and wait for the batch the
        background thread may be writing."""
        with self._write_lock:
            while True:
                batch = self._take(first_timeout=None)
                if not batch:
                    break
                self._write_safely(batch)

    def pending(self) -> int:
        return self._queue.qsize()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the thread and write what is left (gunicorn ``worker_exit``, ``atexit``)."""
        if self._pid != os.getpid():
            return
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)
        self.flush()


writer = PredictionLogWriter()
atexit.register(writer.shutdown)


def prediction_log_flush() -> None:
    """Write this process's queued prediction log entries now."""
    writer.flush()
