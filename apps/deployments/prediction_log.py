"""Writing the prediction log off the request's path.

A request puts one ``LogEntry`` per image on this process's queue and answers at once; a
background thread takes what has queued (every ``PREDICTION_LOG_INTERVAL`` seconds, at most
``PREDICTION_LOG_BATCH`` at a time), saves the images to storage and bulk-creates the rows.

The id in the answer is the entry's UUID (``PredictionLog.uid``), made in the request, so it
can be quoted before its row exists; the feedback endpoint waits briefly for a row that is
still on its way (``prediction_wait_for``).

Shutdown: gunicorn's ``worker_exit`` hook (and ``atexit``, or SIGTERM for a process with no
handler of its own) calls ``shutdown()``, which writes everything still queued. A process
killed outright (SIGKILL, out of memory, power loss) loses the entries still queued: at most
about one interval's worth (0.2 s by default) plus the batch being written. The predictions
themselves were answered; only their log rows are missing.

A batch that fails on a database error (the database restarting, a lock timeout) is kept and
retried with a growing pause (``RETRY_DELAYS``), not dropped; an image file whose row could
not be written is deleted again, so storage never keeps files no row points to.

The queue is bounded in entries (``PREDICTION_LOG_MAX_QUEUE``) and in bytes of images
(``PREDICTION_LOG_MAX_QUEUE_BYTES``): while the database is down or far too slow, an entry
that would pass the byte limit keeps its row but not its image, and past the entry limit
entries are dropped and counted, rather than memory growing without bound.

``PREDICTION_LOG_BACKGROUND = False`` writes each entry in the request instead (unit tests).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import queue
import signal
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError

logger = logging.getLogger(__name__)

# Pauses between attempts at a batch the database refused (seconds); the last one repeats.
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# What an entry costs besides its image (the row, the predictions, the objects).
ENTRY_OVERHEAD_BYTES = 2048


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
    ood_score: float | None = None
    out_of_distribution: bool | None = None
    sketch: bytes | None = None  # ml.drift sketch of the embedding (apps.monitoring)


def image_storage_prefix(slug: str) -> str:
    """Where a deployment's logged images are stored. By slug, not id: SQLite may give a
    deleted deployment's id to the next one, whose images must not share the folder that
    is being deleted."""
    return f"predictions/{slug}/"


@dataclass(frozen=True, slots=True)
class WriterSettings:
    background: bool  # False: ``submit`` writes in the request (tests, management commands)
    interval: float  # seconds the thread waits for a batch to fill
    batch: int  # entries per write
    max_queue: int  # entries waiting; more are dropped and counted
    max_queue_bytes: int  # their bytes, likewise


class PredictionLogWriter:
    """The queue and background thread described in the module docstring. Subclasses
    (``apps.deployments.shadow_worker``) reuse the queue, batching, retries and shutdown with
    their own entries, ``write`` and ``writer_settings``."""

    thread_name = "prediction-log-writer"

    def __init__(self) -> None:
        self._queue: queue.Queue[LogEntry] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._start_lock = threading.Lock()
        # Held while a batch is being written, so flush() can wait for the one in flight.
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self._bytes_lock = threading.Lock()
        self._queued_bytes = 0
        self.dropped = 0
        self.images_dropped = 0
        self.written = 0
        self.retries = 0

    # --- the request side ------------------------------------------------------------------
    def writer_settings(self) -> WriterSettings:
        """Read at each use, so that a changed setting applies at once."""
        return WriterSettings(
            background=settings.PREDICTION_LOG_BACKGROUND,
            interval=settings.PREDICTION_LOG_INTERVAL,
            batch=settings.PREDICTION_LOG_BATCH,
            max_queue=settings.PREDICTION_LOG_MAX_QUEUE,
            max_queue_bytes=settings.PREDICTION_LOG_MAX_QUEUE_BYTES,
        )

    def _entry_size(self, entry: Any) -> int:
        return _size(entry)

    def _on_dropped(self, entry: Any) -> None:
        """Called for each entry dropped because the queue was full (request thread)."""

    def submit(self, entries: list[Any]) -> None:
        config = self.writer_settings()
        if not config.background:
            self.write(entries)
            return
        self._ensure_thread()
        limit = int(config.max_queue)
        byte_limit = int(config.max_queue_bytes)
        for entry in entries:
            if self._queue.qsize() >= limit:
                self.dropped += 1
                self._on_dropped(entry)
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    logger.error(
                        "%s: queue full, %d entries dropped so far", self.thread_name, self.dropped
                    )
                continue
            with self._bytes_lock:
                size = self._entry_size(entry)
                if entry.image is not None and self._queued_bytes + size > byte_limit:
                    entry.image = None  # the row still goes in, without its picture
                    self.images_dropped += 1
                    if self.images_dropped == 1 or self.images_dropped % 1000 == 0:
                        logger.error(
                            "prediction log queue over %d bytes: %d images not stored so far",
                            byte_limit,
                            self.images_dropped,
                        )
                    size = self._entry_size(entry)
                self._queued_bytes += size
            self._queue.put_nowait(entry)

    def queued_bytes(self) -> int:
        """What the queued entries hold, images included (an estimate for the rest)."""
        return self._queued_bytes

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
                self._bytes_lock = threading.Lock()
                self._queued_bytes = 0
            self._stopping.clear()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    # --- the writer thread -----------------------------------------------------------------
    def _take(self, first_timeout: float | None) -> list[LogEntry]:
        batch_size = int(self.writer_settings().batch)
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
        with self._bytes_lock:
            self._queued_bytes -= sum(self._entry_size(entry) for entry in batch)
        return batch

    def _run(self) -> None:
        interval = float(self.writer_settings().interval)
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
                    try:
                        self._write_safely(batch, attempts=None)
                    except DatabaseError:  # still refused at shutdown: its flush tries again
                        self._requeue(batch)
                        return
                    batch = self._take(first_timeout=None)

    def _write_safely(self, batch: list[LogEntry], *, attempts: int | None) -> None:
        """Write ``batch``, retrying on database errors with a growing pause (``RETRY_DELAYS``):
        ``attempts`` times, or for as long as it takes (None; cut to a few more attempts by a
        shutdown). Raises ``DatabaseError`` when it gave up; any other error is logged and
        the batch dropped (it would fail the same way again)."""
        from django.db import close_old_connections, connection

        attempt = 0
        while True:
            close_old_connections()
            try:
                self.write(batch)
                return
            except DatabaseError:
                attempt += 1
                # The connection may be broken: the next attempt opens a fresh one.
                with contextlib.suppress(Exception):
                    connection.close()
                if attempts is not None and attempt >= attempts:
                    logger.warning(
                        "could not write %d prediction log entries (%d attempts)",
                        len(batch),
                        attempt,
                        exc_info=True,
                    )
                    raise
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
                if attempt == 1 or attempt % 10 == 0:
                    logger.warning(
                        "could not write %d prediction log entries (attempt %d); retrying in "
                        "%.1f s",
                        len(batch),
                        attempt,
                        delay,
                        exc_info=True,
                    )
                self.retries += 1
                if self._stopping.wait(delay) and attempts is None:
                    attempts = attempt + 3
            except Exception:  # noqa: BLE001 - a writer thread that dies would log nothing more
                logger.exception("could not write %d prediction log entries", len(batch))
                return

    def _requeue(self, batch: list[LogEntry]) -> None:
        """Put entries that could not be written back on the queue (beyond its limits: they
        were counted in once already)."""
        with self._bytes_lock:
            self._queued_bytes += sum(self._entry_size(entry) for entry in batch)
        for entry in batch:
            self._queue.put_nowait(entry)

    # --- writing ---------------------------------------------------------------------------
    def write(self, entries: list[LogEntry]) -> None:
        """Save the entries' images and create their rows (in the calling thread)."""
        from django.core.files.base import ContentFile
        from django.core.files.storage import default_storage
        from django.db import transaction

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
                    ood_score=entry.ood_score,
                    out_of_distribution=entry.out_of_distribution,
                    sketch=entry.sketch,
                    latency_ms=entry.latency_ms,
                    image=name,
                    image_sha256=sha256,
                    created_at=entry.created_at,
                    source=entry.source,
                )
            )
        unsettled = list(rows)
        try:
            try:
                with transaction.atomic():
                    PredictionLog.objects.bulk_create(rows)
                self.written += len(rows)
                return
            except IntegrityError:
                pass
            # A deployment deleted meanwhile (or a row already written): one by one, keeping
            # the rows that still fit.
            while unsettled:
                row = unsettled[0]
                try:
                    with transaction.atomic():
                        row.save(force_insert=True)
                    self.written += 1
                except IntegrityError:
                    _delete_file(row)
                unsettled.pop(0)
        except DatabaseError:
            # Not written: no file stays behind without its row (a retry saves them again).
            for row in unsettled:
                _delete_file(row)
            raise

    # --- flushing --------------------------------------------------------------------------
    def flush(self, *, attempts: int = 3, timeout: float = -1) -> bool:
        """Write everything queued now, in the calling thread, after the batch the background
        thread may be writing (waiting at most ``timeout`` seconds for it; -1: as long as it
        takes). Returns False when the entries could not all be written: they stay queued."""
        if not self._write_lock.acquire(timeout=timeout):
            return False
        try:
            while True:
                batch = self._take(first_timeout=None)
                if not batch:
                    return True
                try:
                    self._write_safely(batch, attempts=attempts)
                except DatabaseError:
                    self._requeue(batch)
                    return False
        finally:
            self._write_lock.release()

    def pending(self) -> int:
        return self._queue.qsize()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the thread and write what is left (gunicorn ``worker_exit``, ``atexit``,
        SIGTERM)."""
        if self._pid != os.getpid():
            return
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout)
        if not self.flush(timeout=timeout):
            logger.error(
                "prediction log: %d entries could not be written before exiting", self.pending()
            )


def _size(entry: LogEntry) -> int:
    return ENTRY_OVERHEAD_BYTES + (len(entry.image) if entry.image is not None else 0)


def _delete_file(row: Any) -> None:
    from django.core.files.storage import default_storage

    if row.image:
        with contextlib.suppress(Exception):
            default_storage.delete(row.image.name)


writer = PredictionLogWriter()
atexit.register(writer.shutdown)


def flush_on_sigterm() -> bool:
    """Write the queued entries when the process is told to stop (SIGTERM), for a server
    that has no hook of its own (gunicorn has: ``worker_exit``); then stop as SIGTERM would.
    Installed only from the main thread, over the default handler. Returns whether it was
    installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False

    def stop(signum: int, frame: Any) -> None:
        try:
            writer.shutdown()
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    return True


def prediction_log_flush(*, timeout: float = 1.0) -> bool:
    """Write this process's queued prediction log entries now (for a request: once, waiting
    at most ``timeout`` seconds for the batch being written). Returns whether all were."""
    return writer.flush(attempts=1, timeout=timeout)
