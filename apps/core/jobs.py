"""One machine for every background job: imports, embeddings, training, and any new kind.

A job is a row of a concrete subclass of ``apps.core.models.Job`` (status, attempts,
worker, heartbeat_at, started_at, finished_at, error, dispatched_at, dispatches); the row,
not the broker, says whether a job runs and who runs it::

    queued --job_claim--> running --job_finish--> succeeded | failed | cancelled
      ^                      |
      +------ jobs_reap / jobs_reclaim_dead_on_host (while attempts are left) ------+

The API (everything a job kind needs)::

    register(kind: JobKind) -> None
        In the owning app's ``AppConfig.ready()``, e.g.
        ``register(JobKind(model=ImportJob, task=run_import, lost_message="..."))``.
        ``task`` is the Celery task object (called with the job id); this module never
        imports an app, so the reaper in ``apps.core`` works for kinds it does not know.
    kind_for(model: type[Job]) -> JobKind
    job_dispatch(job: Job) -> None
        Call inside the transaction that created (or re-queued) the row. The message goes
        to the broker once that transaction commits (at once outside one), without
        retries and with the short broker time-outs of the settings. If the broker does
        not answer, the row is marked failed with a plain message and
        ``ApplicationError(code="broker_unavailable", status_code=503)`` is raised from the
        commit, so the API answers 503 within seconds; the next click works again.
    job_submit(job, *, stored_files, keep_files_when_broker_down=False) -> Job
        Save a new job and dispatch it (``job_dispatch``) in one transaction; when that
        fails, delete the files stored for it (an upload), except, with
        ``keep_files_when_broker_down``, when the broker did not answer (the row is then
        saved as failed, and a kind that can be retried needs its upload again).
    job_claim(model, job_id, *, related=(), **fields) -> Job | None
        The task's first step. Locks the row; only a QUEUED row starts (a re-delivered or
        duplicate message returns None and does nothing). Sets RUNNING, attempts += 1,
        worker = "host:pid", started_at (kept from an earlier attempt), heartbeat_at,
        clears finished_at and error, and sets ``fields`` too (e.g. progress=0.0).
        ``related`` is passed to select_related.
    job_heartbeat(job, **fields) -> bool
        Refresh heartbeat_at (and write ``fields``, e.g. progress) ONLY if the row is still
        RUNNING with this attempt's number. False: the attempt lost the job (reaped and
        handed to another attempt, or closed): stop working, write nothing more.
    job_heartbeats(job) -> context manager yielding a threading.Event
        For a long step that cannot beat itself (one library call): a background thread
        beats every JOB_HEARTBEAT_SECONDS while the block runs; the event is set when the
        attempt lost the job. Inline (no thread) inside an open transaction (unit tests).
    job_finish(job, *, status, error="", **fields) -> bool
        Close this attempt (succeeded / failed / cancelled), same fencing as the heartbeat.
    job_dispatch_quietly(job, *, countdown=0.0) -> None
        Like job_dispatch, for work that must not fail what caused it (a webhook delivery
        of a training's end): a broker that does not answer leaves the row queued for the
        reaper to send; ``countdown`` delays the message (a retry's back-off), and the
        reaper counts its "lost after" time from when the message is due.
    registered_kinds() -> list[JobKind]
    job_mark_queued(job) -> list[str]
        Put a loaded row back to QUEUED in memory (clears error, worker, finished_at and the
        dispatch stamps); returns the field names to save. Then call job_dispatch.
    jobs_reap(*, stale_after=None) -> int            (Celery beat: ``core.reap_stale_jobs``)
        RUNNING rows whose heartbeat is older than JOB_STALE_AFTER go back to the queue and
        are dispatched again while attempts < max_attempts, else fail with the kind's
        ``lost_message``. QUEUED rows whose message was lost (never sent, or sent more than
        JOB_DISPATCH_LOST_AFTER seconds ago, doubling after each re-send) are sent again; a
        duplicate message is harmless because only a queued row can be claimed.
    jobs_reclaim_dead_on_host(hostname) -> int       (on Celery's ``worker_ready``)
        RUNNING rows claimed on this host by a process that no longer exists are handled
        like stale ones at once, so a restarted worker picks its jobs up again in seconds.
    worker_id() -> str                               ("host:pid" of this process)

``JobKind.on_lost(job, retrying) -> dict`` (optional) returns extra fields to write when a
running attempt is taken for dead (training resets its stage and appends a log line); a
"status" in it overrides the decision (e.g. CANCELLED when a cancel was asked for).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from apps.core import metrics
from apps.core.exceptions import ApplicationError
from apps.core.models import Job
from apps.core.storage import storage_files_delete

logger = logging.getLogger(__name__)

__all__ = [
    "BROKER_DOWN_MESSAGE",
    "Job",
    "JobKind",
    "job_claim",
    "job_dispatch",
    "job_dispatch_quietly",
    "job_finish",
    "job_heartbeat",
    "job_mark_queued",
    "jobs_reap",
    "jobs_reclaim_dead_on_host",
    "kind_for",
    "register",
    "registered_kinds",
    "worker_id",
]

BROKER_DOWN_MESSAGE = "The job queue is not answering right now. Try again in a minute."
BROKER_DOWN_JOB_ERROR = (
    "This job could not be started because the job queue was not answering. "
    "Nothing was changed; start it again."
)
# A lost message is re-sent after JOB_DISPATCH_LOST_AFTER seconds, then after twice that,
# and so on up to this many doublings (a long queue must not fill up with duplicates).
MAX_BACKOFF_DOUBLINGS = 6

Status = Job.Status

# job_claim returns a row of the model it was given (an ImportJob for ImportJob, ...), and a
# kind's on_lost takes rows of its own model.
# Job is abstract, so type[Job] has no `objects` for the type checker: the functions below
# use `_default_manager`, which is `objects` of every job model (none declares another).
JobT = TypeVar("JobT", bound=Job)


@dataclass(frozen=True)
class JobKind(Generic[JobT]):
    """How the machine runs one model's jobs."""

    model: type[JobT]
    task: Any  # a Celery task; called as task.apply_async(args=[job_id])
    lost_message: str
    max_attempts: int | None = None  # None: settings.JOB_MAX_ATTEMPTS
    on_lost: Callable[[JobT, bool], dict[str, Any]] | None = None
    # Called with the job's id after the commit, when a lost attempt ended the job (failed
    # or cancelled, not re-queued): the kind announces it as it does a job that ended while
    # running (webhooks, the retraining policy).
    on_ended: Callable[[int], None] | None = None

    @property
    def attempts_allowed(self) -> int:
        return self.max_attempts if self.max_attempts is not None else settings.JOB_MAX_ATTEMPTS


_kinds: dict[str, JobKind[Any]] = {}


def register(kind: JobKind[Any]) -> None:
    """Make a job model known to the machine (replaces an earlier registration)."""
    _kinds[kind.model._meta.label] = kind


def registered_kinds() -> list[JobKind[Any]]:
    return list(_kinds.values())


def kind_for(model: type[Job]) -> JobKind[Any]:
    try:
        return _kinds[model._meta.label]
    except KeyError:
        raise LookupError(f"{model._meta.label} is not a registered job kind") from None


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- Dispatch ------------------------------------------------------------------------------


def _broker_errors() -> tuple[type[BaseException], ...]:
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (OperationalError, RedisConnectionError, RedisTimeoutError, OSError)


def _send(kind: JobKind[Any], job_id: int, countdown: float = 0.0) -> bool:
    """Hand the job's message to the broker once, without retrying. Returns whether it did."""
    started = time.monotonic()
    try:
        delay = {"countdown": countdown} if countdown else {}
        kind.task.apply_async(args=[job_id], retry=False, **delay)
    except _broker_errors() as exc:
        logger.warning(
            "could not send %s %s to the broker after %.1f s: %r",
            kind.model._meta.label,
            job_id,
            time.monotonic() - started,
            exc,
        )
        return False
    kind.model._default_manager.filter(pk=job_id).update(
        dispatched_at=timezone.now() + timedelta(seconds=countdown), dispatches=F("dispatches") + 1
    )
    return True


def job_dispatch(job: Job) -> None:
    """Send the job's task after the current transaction commits; see the module docstring."""
    kind = kind_for(type(job))
    job_id = job.pk

    def send() -> None:
        if _send(kind, job_id):
            return
        now = timezone.now()
        kind.model._default_manager.filter(pk=job_id, status=Status.QUEUED).update(
            status=Status.FAILED, error=BROKER_DOWN_JOB_ERROR, finished_at=now, updated_at=now
        )
        raise ApplicationError(BROKER_DOWN_MESSAGE, code="broker_unavailable", status_code=503)

    transaction.on_commit(send)


def job_submit(
    job: JobT, *, stored_files: list[str | None], keep_files_when_broker_down: bool = False
) -> JobT:
    """Save the new ``job`` and dispatch it; on failure delete ``stored_files`` (see the
    module docstring; empty names are skipped), then re-raise."""
    names = [name for name in stored_files if name]
    try:
        with transaction.atomic():
            job.save()
            job_dispatch(job)
    except BaseException as exc:
        broker_down = isinstance(exc, ApplicationError) and exc.code == "broker_unavailable"
        if names and not (broker_down and keep_files_when_broker_down):
            storage_files_delete(names=names)
        raise
    return job


def job_dispatch_quietly(job: Job, *, countdown: float = 0.0) -> None:
    """Send the job's task after the current transaction commits; a broker failure is only
    logged (the row stays queued and the reaper sends it again). See the module docstring."""
    kind = kind_for(type(job))
    job_id = job.pk
    transaction.on_commit(lambda: _send(kind, job_id, countdown))


def job_mark_queued(job: Job) -> list[str]:
    job.status = Status.QUEUED
    job.error = ""
    job.worker = ""
    job.finished_at = None
    job.dispatched_at = None
    job.dispatches = 0
    return ["status", "error", "worker", "finished_at", "dispatched_at", "dispatches", "updated_at"]


# --- One attempt ---------------------------------------------------------------------------


def job_claim(
    model: type[JobT], job_id: int, *, related: tuple[str, ...] = (), **fields: Any
) -> JobT | None:
    """Take a queued job for this process; None if it is gone or not queued."""
    with transaction.atomic():
        # of=("self",): PostgreSQL refuses FOR UPDATE on the nullable side of an outer
        # join (select_related of a nullable foreign key); only the job row needs the lock.
        rows = model._default_manager.select_for_update(of=("self",))
        if related:
            rows = rows.select_related(*related)
        job = rows.filter(pk=job_id).first()
        if job is None or job.status != Status.QUEUED:
            return None
        now = timezone.now()
        values: dict[str, Any] = {
            "status": Status.RUNNING,
            "attempts": job.attempts + 1,
            "worker": worker_id(),
            "started_at": job.started_at or now,
            "heartbeat_at": now,
            "finished_at": None,
            "error": "",
            **fields,
        }
        for name, value in values.items():
            setattr(job, name, value)
        job.save(update_fields=[*values, "updated_at"])
    metrics.job_started(model._meta.label)
    return job


def _this_attempt(job: Job) -> QuerySet[Job]:
    return type(job)._default_manager.filter(
        pk=job.pk, attempts=job.attempts, status=Status.RUNNING
    )


def job_heartbeat(job: Job, **fields: Any) -> bool:
    """Refresh the heartbeat (and write ``fields``) if this attempt still holds the job."""
    now = timezone.now()
    return bool(_this_attempt(job).update(heartbeat_at=now, updated_at=now, **fields))


@contextmanager
def job_heartbeats(job: Job) -> Iterator[threading.Event]:
    """Beat for ``job`` from a background thread while the block runs (see the module's
    docstring). Yields an event that is set once the attempt has lost the job."""
    lost = threading.Event()
    if connection.in_atomic_block:
        # Another thread's connection would not see this transaction's rows.
        yield lost
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(float(settings.JOB_HEARTBEAT_SECONDS)):
                if not job_heartbeat(job):
                    lost.set()
                    return
        except Exception:  # noqa: BLE001 - a missed beat only risks a reap, never the work
            logger.warning("heartbeat of %s failed", job, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-{job.pk}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(timeout=float(settings.JOB_HEARTBEAT_SECONDS) + 5)


def job_finish(job: Job, *, status: str, error: str = "", **fields: Any) -> bool:
    """Close this attempt if it still holds the job. Returns whether it did."""
    if status not in Job.FINISHED:
        raise ValueError(f"job_finish needs a finished status, not {status!r}")
    now = timezone.now()
    fields.setdefault("finished_at", now)
    updated = _this_attempt(job).update(
        status=status, error=error, heartbeat_at=now, updated_at=now, **fields
    )
    if updated:
        job.status, job.error = status, error
        metrics.job_finished(type(job)._meta.label, status)
    return bool(updated)


# --- Lost jobs -----------------------------------------------------------------------------


def _job_lost(kind: JobKind[Any], job_id: int, still: Q, reason: str) -> bool:
    """Re-queue (and re-send) or fail one running job whose attempt died."""
    model = kind.model
    with transaction.atomic():
        job = (
            model._default_manager.select_for_update(of=("self",)).filter(still, pk=job_id).first()
        )
        if job is None or job.status != Status.RUNNING:  # it finished or beat meanwhile
            return False
        retrying = job.attempts < kind.attempts_allowed
        now = timezone.now()
        fields: dict[str, Any] = {"worker": "", "updated_at": now}
        if kind.on_lost is not None:
            fields.update(kind.on_lost(job, retrying) or {})
        status = fields.setdefault("status", Status.QUEUED if retrying else Status.FAILED)
        if status == Status.QUEUED:
            fields.update(finished_at=None, dispatched_at=None, dispatches=0)
        else:
            fields.setdefault("finished_at", now)
            if status == Status.FAILED:
                fields.setdefault("error", kind.lost_message)
        model._default_manager.filter(pk=job_id).update(**fields)
        if status != Status.QUEUED:
            metrics.job_finished(model._meta.label, status)
        logger.warning(
            "%s %s: attempt %s on %s %s; now %s",
            model._meta.label,
            job_id,
            job.attempts,
            job.worker or "?",
            reason,
            status,
        )
        if status == Status.QUEUED:
            transaction.on_commit(lambda: _send(kind, job_id))
        elif kind.on_ended is not None:
            ended = kind.on_ended
            transaction.on_commit(lambda: ended(job_id))
    return True


def _resend_lost_messages(kind: JobKind[Any], now: datetime) -> int:
    lost_after = float(settings.JOB_DISPATCH_LOST_AFTER)
    cutoff = now - timedelta(seconds=lost_after)
    rows = kind.model._default_manager.filter(status=Status.QUEUED).filter(
        Q(dispatched_at__isnull=True, updated_at__lt=cutoff) | Q(dispatched_at__lt=cutoff)
    )
    sent = 0
    for job_id, dispatched_at, dispatches in rows.values_list("pk", "dispatched_at", "dispatches"):
        if dispatched_at is not None:
            wait = lost_after * 2 ** min(max(dispatches - 1, 0), MAX_BACKOFF_DOUBLINGS)
            if (now - dispatched_at).total_seconds() < wait:
                continue
        logger.warning(
            "%s %s: queued but its message was lost; sending it again",
            kind.model._meta.label,
            job_id,
        )
        sent += _send(kind, job_id)
    return sent


def jobs_reap(*, stale_after: float | None = None) -> int:
    """Stale running jobs and lost queued messages of every kind; returns how many were
    handled (reaped running jobs plus re-sent messages)."""
    stale_after = float(settings.JOB_STALE_AFTER if stale_after is None else stale_after)
    now = timezone.now()
    cutoff = now - timedelta(seconds=stale_after)
    stale = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    handled = 0
    for kind in list(_kinds.values()):
        ids = list(
            kind.model._default_manager.filter(stale, status=Status.RUNNING).values_list(
                "pk", flat=True
            )
        )
        for job_id in ids:
            handled += _job_lost(kind, job_id, stale, "stopped sending heartbeats")
        handled += _resend_lost_messages(kind, now)
    return handled


def _process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (Unix time), None if there is no such process. Linux
    reads /proc; elsewhere a live process counts as started at 0 (i.e. long ago)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    except OSError:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            after_name = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime"))
        return boot + int(after_name[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return 0.0


def jobs_reclaim_dead_on_host(hostname: str) -> int:
    """Running jobs claimed on ``hostname`` by a process that is gone: re-queued (or
    failed) at once. A PID that was reused by a process started after the job's last
    heartbeat (a restarted container hands out the same PIDs) counts as gone too."""
    handled = 0
    for kind in list(_kinds.values()):
        rows = kind.model._default_manager.filter(
            status=Status.RUNNING, worker__startswith=f"{hostname}:"
        ).values_list("pk", "worker", "heartbeat_at", "started_at")
        for job_id, worker, heartbeat_at, started_at in rows:
            try:
                pid = int(worker.rsplit(":", 1)[1])
            except (IndexError, ValueError):
                continue
            if pid == os.getpid():
                continue
            started = _process_started_at(pid)
            last_sign = heartbeat_at or started_at
            alive = started is not None and (
                last_sign is None or started <= last_sign.timestamp() + 1.0
            )
            if not alive:
                still = Q(worker=worker)
                handled += _job_lost(kind, job_id, still, "died with its worker process")
    return handled
