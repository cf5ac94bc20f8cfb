"""Running a shadow candidate off the request's path.

While a deployment's candidate is in shadow mode (``apps.deployments.canary``), the live
version answers every request as usual; the request then hands the inputs it already
decoded (the preprocessed batch itself when both versions preprocess alike, i.e. share a
backbone) to this process's ``shadow_writer`` and returns. The writer's background thread
runs the candidate on them and writes both answers as ``ShadowResult`` rows.

It is a ``PredictionLogWriter`` (same queue, batching, retries on database errors, flush and
shutdown), with its own settings (``SHADOW_*``): its queue is small and bounded in entries
(``SHADOW_MAX_QUEUE``); past it, the request's inputs are dropped and counted
(``Deployment.shadow_dropped``), never waited for, so a saturated server answers as fast
with a shadow as without one.

The shadow keeps out of the live requests' way: it waits (at most ``IDLE_WAIT_S``) until no
prediction is being served on the machine, runs the candidate's one-core session counted as a
prediction being served (``serving.occupancy``: a live request that starts meanwhile takes
the other core alone instead of fighting for both), and at a lower CPU priority
(``NICENESS``), so the kernel gives the live calls the time first.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from apps.deployments.prediction_log import PredictionLogWriter, WriterSettings

logger = logging.getLogger(__name__)

# Added to the shadow thread's nice value (Linux schedules threads one by one).
NICENESS = 10
# How long the shadow waits for the machine to have no live prediction before it runs anyway
# (under a steady load it never has; the queue's limit then drops what it cannot keep up with).
IDLE_WAIT_S = 0.25
# What a queued job costs besides its arrays.
JOB_OVERHEAD_BYTES = 1024


@dataclass(slots=True)
class ShadowJob:
    """One request's inputs and the live version's answers, for the candidate to run on."""

    deployment_id: int
    live_version_id: int
    candidate: Any  # the candidate's ``LiveDeployment``
    uids: list[uuid.UUID]
    live_answers: list[tuple[str, float]]
    created_at: datetime
    # Preprocessed for the candidate already (both versions share a backbone), or None ...
    batch: np.ndarray | None = None
    # ... and then the decoded images, preprocessed in the thread.
    images: list[Any] | None = None
    # The candidate's answers once run (kept across a retried database write).
    answers: list[tuple[str, float]] | None = None
    # Never an image to store: the writer's byte budget for images does not apply.
    image: None = None


def _job_size(job: ShadowJob) -> int:
    if job.batch is not None:
        return JOB_OVERHEAD_BYTES + int(job.batch.nbytes)
    return JOB_OVERHEAD_BYTES + sum(
        image.width * image.height * 3 for image in job.images or () if hasattr(image, "width")
    )


class ShadowWriter(PredictionLogWriter):
    thread_name = "shadow-runner"

    def writer_settings(self) -> WriterSettings:
        return WriterSettings(
            background=settings.SHADOW_BACKGROUND,
            interval=settings.SHADOW_INTERVAL,
            batch=settings.SHADOW_BATCH,
            max_queue=settings.SHADOW_MAX_QUEUE,
            max_queue_bytes=settings.SHADOW_MAX_QUEUE_BYTES,
        )

    def __init__(self) -> None:
        super().__init__()
        self._drops: dict[int, int] = defaultdict(int)
        self._drops_lock = threading.Lock()
        self.failed = 0

    def _entry_size(self, entry: Any) -> int:
        return _job_size(entry)

    def _on_dropped(self, entry: Any) -> None:
        with self._drops_lock:
            self._drops[entry.deployment_id] += len(entry.uids)

    def _run(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        super()._run()

    def flush(self, *, attempts: int = 3, timeout: float = -1) -> bool:
        done = super().flush(attempts=attempts, timeout=timeout)
        try:
            self._persist_drops()
        except Exception:  # noqa: BLE001 - counted again at the next write
            logger.warning("could not record dropped shadow inputs", exc_info=True)
            return False
        return done

    def _take(self, first_timeout: float | None) -> list[Any]:
        # Drops are counted in the database from the thread (never in the request), at least
        # once a second while they happen.
        if self._drops:
            try:
                self._persist_drops()
            except Exception:  # noqa: BLE001 - kept, counted at the next try
                logger.warning("could not record dropped shadow inputs", exc_info=True)
        return super()._take(first_timeout)

    def _persist_drops(self) -> None:
        """Add the inputs dropped since the last call to their deployments' counters."""
        from django.db.models import F

        from apps.deployments.models import Deployment

        with self._drops_lock:
            drops, self._drops = dict(self._drops), defaultdict(int)
        try:
            for deployment_id, count in drops.items():
                Deployment.objects.filter(pk=deployment_id).update(
                    shadow_dropped=F("shadow_dropped") + count
                )
        except Exception:
            with self._drops_lock:
                for deployment_id, count in drops.items():
                    self._drops[deployment_id] += count
            raise

    # --- running the candidate -------------------------------------------------------------
    def _answer(self, jobs: list[ShadowJob]) -> None:
        """Fill each job's ``answers`` with the candidate's top label and confidence, one
        session call per candidate for the jobs preprocessed already."""
        groups: dict[tuple[int, str], list[ShadowJob]] = defaultdict(list)
        for job in jobs:
            if job.answers is None:
                groups[(job.candidate.model_version_id, job.candidate.precision)].append(job)
        for group in groups.values():
            try:
                _run_candidate(group)
            except Exception:  # noqa: BLE001 - a candidate that fails is counted, not fatal
                self.failed += len(group)
                logger.exception("shadow candidate could not run on %d inputs", len(group))

    def write(self, entries: list[Any]) -> None:
        """Run the candidate on the jobs and create their ``ShadowResult`` rows."""
        from apps.deployments.models import ShadowResult

        self._persist_drops()
        jobs: list[ShadowJob] = list(entries)
        self._answer(jobs)
        rows = [
            ShadowResult(
                deployment_id=job.deployment_id,
                candidate_version_id=job.candidate.model_version_id,
                live_version_id=job.live_version_id,
                prediction_uid=uid,
                live_label=live[0][:100],
                live_confidence=live[1],
                candidate_label=candidate[0][:100],
                candidate_confidence=candidate[1],
                agree=live[0] == candidate[0],
                created_at=job.created_at,
            )
            for job in jobs
            if job.answers is not None
            for uid, live, candidate in zip(job.uids, job.live_answers, job.answers, strict=True)
        ]
        if not rows:
            return
        try:
            with transaction.atomic():
                ShadowResult.objects.bulk_create(rows)
            self.written += len(rows)
            return
        except IntegrityError:
            pass
        # A deployment or version deleted meanwhile: keep the rows that still fit.
        for row in rows:
            try:
                with transaction.atomic():
                    row.save(force_insert=True)
                self.written += 1
            except IntegrityError:
                continue


def _run_candidate(jobs: list[ShadowJob]) -> None:
    from apps import ml
    from apps.deployments.serving.registry import registry

    candidate = jobs[0].candidate
    runner = registry.runner(candidate)
    # One core: the live version keeps the rest (and ``ModelRunner``'s lanes are the live
    # requests', so the shadow does not queue in them).
    predictor = runner.lean_predictor or runner.predictor
    batches = [
        job.batch
        if job.batch is not None
        else ml.preprocess_batch(list(job.images or []), candidate.backbone)
        for job in jobs
    ]
    merged = np.concatenate(batches)
    occupancy = runner.occupancy
    if occupancy is None:
        probabilities = predictor.predict_arrays(merged)
    else:
        deadline = time.monotonic() + IDLE_WAIT_S
        while not occupancy.idle() and time.monotonic() < deadline:
            time.sleep(0.001)
        with occupancy.running():
            probabilities = predictor.predict_arrays(merged)
    labels = candidate.labels
    start = 0
    for job, batch in zip(jobs, batches, strict=True):
        rows = probabilities[start : start + len(batch)]
        start += len(batch)
        job.answers = [(labels[int(np.argmax(row))], float(np.max(row))) for row in rows]


shadow_writer = ShadowWriter()
atexit.register(shadow_writer.shutdown)


def shadow_submit(
    *,
    live: Any,
    entries: list[Any],
    batch: np.ndarray,
    images: list[Any],
) -> None:
    """From a request the live version answered (its ``LogEntry`` list): queue its inputs for
    the shadow candidate ``live.shadow``. Never blocks: dropped and counted when full."""
    candidate = live.shadow
    if candidate is None:
        return
    same_preprocessing = candidate.backbone == live.backbone
    job = ShadowJob(
        deployment_id=live.id,
        live_version_id=live.model_version_id,
        candidate=candidate,
        uids=[entry.uid for entry in entries],
        live_answers=[(entry.label, entry.confidence) for entry in entries],
        created_at=entries[0].created_at,
        batch=batch if same_preprocessing else None,
        images=None if same_preprocessing else list(images),
    )
    shadow_writer.submit([job])


def shadow_flush(*, timeout: float = 1.0) -> bool:
    """Run and write this process's queued shadow inputs now (tests, the bench)."""
    return shadow_writer.flush(attempts=1, timeout=timeout)
