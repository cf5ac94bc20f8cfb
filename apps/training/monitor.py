"""The link between a running training attempt and its row: throttled progress writes,
fenced heartbeats and cancel requests, from a background thread."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from apps.core.jobs import job_heartbeat
from apps.training.models import TrainingJob

logger = logging.getLogger(__name__)

# The live progress of a job is written at most this often (seconds).
PROGRESS_WRITE_INTERVAL = 0.25


class JobMonitor:
    """The link between a running job and its row, for one attempt.

    The training code calls ``report`` (cheap: it only remembers the latest state) and
    ``should_stop`` (cheap: it reads a flag). A background thread writes the latest state
    at most every PROGRESS_WRITE_INTERVAL seconds, refreshes ``heartbeat_at`` every
    JOB_HEARTBEAT_SECONDS and, on each heartbeat, reads ``cancel_requested``. Every write
    goes through ``apps.core.jobs.job_heartbeat``, fenced on this attempt: if the reaper
    gave the job to another worker, ``lost`` turns true and the training stops.

    Inside an open transaction (unit tests wrap each test in one) another thread's
    connection would not see the rows, so the same work is done inline instead.
    """

    def __init__(self, job: TrainingJob) -> None:
        self.job = job
        self.job_id = job.pk
        self.attempt = job.attempts
        self.heartbeat = float(settings.JOB_HEARTBEAT_SECONDS)
        self.cancel_requested = bool(job.cancel_requested)
        self.lost = False
        self._state: dict[str, Any] = {}
        self._dirty = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_write = 0.0
        self._last_beat = time.monotonic()
        self._threaded = not connection.in_atomic_block
        self._thread: threading.Thread | None = None

    # Called by the training code --------------------------------------------------------
    def report(self, **fields: Any) -> None:
        """Remember the job's latest stage / progress / metrics for the next write."""
        with self._lock:
            self._state.update(fields)
            self._dirty = True
        if not self._threaded:
            self.tick()

    def should_stop(self) -> bool:
        if not self._threaded:
            self.tick()
        return self.cancel_requested or self.lost

    def write_now(self, **fields: Any) -> bool:
        """Write ``fields`` at once (with a heartbeat), if this attempt still holds the
        job. Returns whether it did."""
        if not job_heartbeat(self.job, **fields):
            self.lost = True
            return False
        return True

    # Background work -------------------------------------------------------------------
    def start(self) -> None:
        if self._threaded:
            self._thread = threading.Thread(
                target=self._run, name=f"training-job-{self.job_id}-monitor", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write what is still pending."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.tick(force=True)

    def _run(self) -> None:
        try:
            while not self._stop.wait(PROGRESS_WRITE_INTERVAL):
                try:
                    self.tick()
                except Exception:  # noqa: BLE001 - a busy database must not kill the job
                    logger.warning("training job %s: heartbeat failed", self.job_id, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()

    def tick(self, *, force: bool = False) -> None:
        now = time.monotonic()
        beat_due = force or now - self._last_beat >= self.heartbeat
        with self._lock:
            write_due = self._dirty and (force or now - self._last_write >= PROGRESS_WRITE_INTERVAL)
            fields = dict(self._state) if write_due else {}
            if write_due:
                self._dirty = False
        if not (write_due or beat_due):
            return
        if not job_heartbeat(self.job, **fields):
            self.lost = True
        self._last_write = now
        if beat_due:
            self._last_beat = now
            self.cancel_requested = bool(
                TrainingJob.objects.filter(pk=self.job_id, cancel_requested=True).exists()
            )
