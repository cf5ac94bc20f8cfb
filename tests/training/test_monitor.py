"""JobMonitor: throttled progress writes and fenced heartbeats for one training attempt."""

from __future__ import annotations

import pytest

from apps.training.models import TrainingJob
from apps.training.monitor import JobMonitor

pytestmark = pytest.mark.django_db


def test_progress_writes_are_throttled(project, django_assert_max_num_queries):
    job = TrainingJob.objects.create(project=project, status="running", attempts=1)
    monitor = JobMonitor(job)
    with django_assert_max_num_queries(4):
        for step in range(500):
            monitor.report(stage="training", progress=step / 500, metrics={"history": []})
            monitor.should_stop()
    monitor.stop()
    job.refresh_from_db()
    assert job.stage == "training" and job.progress == pytest.approx(499 / 500)


def test_an_attempt_that_lost_its_job_stops_and_writes_nothing(project, settings):
    settings.JOB_HEARTBEAT_SECONDS = 0
    job = TrainingJob.objects.create(project=project, status="running", attempts=1)
    monitor = JobMonitor(job)
    # The reaper gave the job to a second attempt meanwhile.
    TrainingJob.objects.filter(pk=job.pk).update(attempts=2, progress=0.1)
    monitor.report(stage="training", progress=0.9)
    assert monitor.should_stop() and monitor.lost
    monitor.stop()
    job.refresh_from_db()
    assert job.progress == 0.1 and job.stage == ""


def test_a_cancel_request_is_read_on_the_heartbeat(project, settings):
    settings.JOB_HEARTBEAT_SECONDS = 0
    job = TrainingJob.objects.create(project=project, status="running", attempts=1)
    monitor = JobMonitor(job)
    assert not monitor.should_stop()
    TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    assert monitor.should_stop() and not monitor.lost
    monitor.stop()
