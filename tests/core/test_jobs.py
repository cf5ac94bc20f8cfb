"""The job machine (apps.core.jobs): claim with attempt fencing, heartbeat, finish,
dispatch, the reaper, and reclaiming the jobs of a restarted worker.

ImportJob serves as the concrete job model; every kind behaves the same."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from celery.signals import worker_ready
from django.utils import timezone
from kombu.exceptions import OperationalError

from apps.core import jobs
from apps.core.exceptions import ApplicationError
from apps.core.jobs import (
    job_claim,
    job_dispatch,
    job_finish,
    job_heartbeat,
    job_heartbeats,
    job_mark_queued,
    jobs_reap,
    jobs_reclaim_dead_on_host,
    kind_for,
)
from apps.core.tasks import reap_stale_jobs
from apps.datasets.models import ImportJob
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(user):
    return ProjectFactory(owner=user)


@pytest.fixture
def sent(monkeypatch):
    """The ids the machine hands to the broker (nothing runs)."""
    ids: list[int] = []
    kind = kind_for(ImportJob)
    monkeypatch.setattr(
        kind.task, "apply_async", lambda args, **kwargs: ids.append(args[0]), raising=False
    )
    return ids


@pytest.fixture
def job(project):
    return ImportJob.objects.create(project=project, kind="urls", urls=[], total=0)


def _ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_only_a_queued_job_is_claimed_and_each_claim_is_a_new_attempt(job):
    claimed = job_claim(ImportJob, job.id)
    assert claimed.status == "running" and claimed.attempts == 1
    assert claimed.worker == jobs.worker_id() and claimed.heartbeat_at and claimed.started_at
    # A second delivery of the same message is a no-op.
    assert job_claim(ImportJob, job.id) is None
    assert job_claim(ImportJob, 999_999) is None
    job.refresh_from_db()
    assert job.attempts == 1


def test_a_stale_attempt_cannot_heartbeat_or_finish(job):
    first = job_claim(ImportJob, job.id)
    ImportJob.objects.filter(id=job.id).update(status="queued")  # reaped
    second = job_claim(ImportJob, job.id)
    assert not job_heartbeat(first, processed=5)
    assert not job_finish(first, status="succeeded")
    assert job_heartbeat(second, processed=2)
    assert job_finish(second, status="failed", error="no")
    job.refresh_from_db()
    assert (job.status, job.attempts, job.processed, job.error) == ("failed", 2, 2, "no")
    assert job.finished_at is not None
    with pytest.raises(ValueError):
        job_finish(second, status="running")


def test_dispatch_sends_after_the_commit_and_stamps_the_row(
    job, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job_dispatch(job)
    assert sent == []  # nothing before the commit
    for callback in callbacks:
        callback()
    job.refresh_from_db()
    assert sent == [job.id] and job.dispatched_at and job.dispatches == 1


def test_a_broker_that_does_not_answer_fails_the_job_with_a_503(
    job, monkeypatch, django_capture_on_commit_callbacks
):
    def down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(kind_for(ImportJob).task, "apply_async", down, raising=False)
    with (
        pytest.raises(ApplicationError) as caught,
        django_capture_on_commit_callbacks(execute=True),
    ):
        job_dispatch(job)
    assert caught.value.status_code == 503 and caught.value.code == "broker_unavailable"
    assert caught.value.message == jobs.BROKER_DOWN_MESSAGE
    job.refresh_from_db()
    assert job.status == "failed" and "not answering" in job.error and job.finished_at


def test_the_reaper_requeues_stale_jobs_while_attempts_are_left(
    project, sent, settings, django_capture_on_commit_callbacks
):
    settings.JOB_MAX_ATTEMPTS = 2
    retried = ImportJob.objects.create(
        project=project, kind="urls", status="running", attempts=1, heartbeat_at=_ago(600)
    )
    given_up = ImportJob.objects.create(
        project=project, kind="urls", status="running", attempts=2, heartbeat_at=_ago(600)
    )
    beating = ImportJob.objects.create(
        project=project, kind="urls", status="running", attempts=1, heartbeat_at=_ago(1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert reap_stale_jobs() == 2
    for row in (retried, given_up, beating):
        row.refresh_from_db()
    assert retried.status == "queued" and sent == [retried.id] and retried.dispatches == 1
    assert given_up.status == "failed" and given_up.error == kind_for(ImportJob).lost_message
    assert beating.status == "running"
    # The message of the dead attempt arrives late: it finds the job already re-queued and
    # is just another delivery of the same job (one claim wins).
    assert job_claim(ImportJob, retried.id).attempts == 2
    assert job_claim(ImportJob, retried.id) is None


def test_a_kinds_on_lost_hook_adds_fields_and_may_decide(
    project, sent, django_capture_on_commit_callbacks
):
    kind = kind_for(ImportJob)
    seen = []

    def on_lost(job, retrying):
        seen.append((job.id, retrying))
        return {"status": "cancelled", "report": {"note": "cancelled while lost"}}

    jobs.register(dataclasses.replace(kind, on_lost=on_lost))
    try:
        row = ImportJob.objects.create(
            project=project, kind="urls", status="running", attempts=1, heartbeat_at=_ago(600)
        )
        with django_capture_on_commit_callbacks(execute=True):
            jobs_reap()
    finally:
        jobs.register(kind)
    row.refresh_from_db()
    assert seen == [(row.id, True)] and sent == []
    assert row.status == "cancelled" and row.finished_at and row.report["note"]


def test_lost_queued_messages_are_sent_again_with_backoff(project, sent, settings):
    settings.JOB_DISPATCH_LOST_AFTER = 60
    never_sent = ImportJob.objects.create(project=project, kind="urls")
    ImportJob.objects.filter(id=never_sent.id).update(updated_at=_ago(120))
    just_created = ImportJob.objects.create(project=project, kind="urls")
    sent_long_ago = ImportJob.objects.create(
        project=project, kind="urls", dispatched_at=_ago(90), dispatches=1
    )
    # Sent twice already: the next re-send waits twice as long (120 s).
    sent_twice = ImportJob.objects.create(
        project=project, kind="urls", dispatched_at=_ago(90), dispatches=2
    )
    assert jobs_reap() == 2
    assert sorted(sent) == sorted([never_sent.id, sent_long_ago.id])
    assert just_created.id not in sent and sent_twice.id not in sent
    sent_long_ago.refresh_from_db()
    assert sent_long_ago.dispatches == 2 and sent_long_ago.dispatched_at > _ago(5)


def test_mark_queued_resets_the_dispatch_stamps(job):
    job.status, job.error, job.dispatches = "failed", "boom", 3
    fields = job_mark_queued(job)
    job.save(update_fields=fields)
    job.refresh_from_db()
    assert (job.status, job.error, job.dispatches, job.dispatched_at) == ("queued", "", 0, None)


@pytest.fixture
def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def live_process():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_restarted_worker_reclaims_the_jobs_of_its_dead_processes(
    project, sent, dead_pid, live_process, django_capture_on_commit_callbacks
):
    host = socket.gethostname()

    def running(worker: str, heartbeat_seconds_ago: float) -> ImportJob:
        return ImportJob.objects.create(
            project=project,
            kind="urls",
            status="running",
            attempts=1,
            worker=worker,
            heartbeat_at=_ago(heartbeat_seconds_ago),
        )

    dead = running(f"{host}:{dead_pid}", 5)
    # The PID is alive, but the process started after the job's last heartbeat: a new
    # process (a restarted container hands out the same PIDs), not the one that held it.
    reused = running(f"{host}:{live_process.pid}", 600)
    alive = running(f"{host}:{live_process.pid}", -5)
    elsewhere = running(f"another-host:{dead_pid}", 5)
    with django_capture_on_commit_callbacks(execute=True):
        worker_ready.send(sender=None)  # what a (re)started Celery worker does
    for row in (dead, reused, alive, elsewhere):
        row.refresh_from_db()
    assert dead.status == reused.status == "queued"
    assert sorted(sent) == sorted([dead.id, reused.id])
    assert alive.status == elsewhere.status == "running"
    assert jobs_reclaim_dead_on_host(host) == 0  # nothing left to reclaim


@pytest.mark.django_db(transaction=True)
def test_a_long_step_is_beaten_for_from_a_thread_and_learns_when_it_lost(user, settings):
    """A step that cannot beat itself (one library call) keeps its job alive, and is told
    when the reaper gave the job to another attempt."""
    settings.JOB_HEARTBEAT_SECONDS = 0.05
    project = ProjectFactory(owner=user)
    row = ImportJob.objects.create(project=project, kind="urls", urls=[], total=0)
    claimed = job_claim(ImportJob, row.id)
    ImportJob.objects.filter(id=row.id).update(heartbeat_at=_ago(3600))
    with job_heartbeats(claimed) as lost:
        time.sleep(0.3)
        beaten = ImportJob.objects.get(id=row.id).heartbeat_at
        assert beaten > _ago(5) and not lost.is_set()
        ImportJob.objects.filter(id=row.id).update(status="queued")  # reaped
        assert lost.wait(2.0)
