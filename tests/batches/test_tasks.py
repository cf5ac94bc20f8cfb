"""The batch task: routed to a queue a worker of ``make up`` consumes, with time limits, and
registered as a kind of the one job machine."""

from __future__ import annotations

from django.conf import settings

from apps.batches.models import BatchJob
from apps.batches.services import BATCH_LOST_ERROR
from apps.batches.tasks import run_batch
from apps.core.jobs import kind_for


def test_the_task_is_routed_to_the_default_queue_with_time_limits():
    assert run_batch.name == "batches.run_batch"
    assert settings.CELERY_TASK_ROUTES["batches.run_batch"] == {"queue": "default"}
    assert "default" in {queue.name for queue in settings.CELERY_TASK_QUEUES}
    assert run_batch.soft_time_limit and run_batch.time_limit > run_batch.soft_time_limit
    # A running batch's message must not be handed out again while it runs.
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert run_batch.time_limit < visibility


def test_batches_are_a_kind_of_the_job_machine():
    kind = kind_for(BatchJob)
    assert kind.task is run_batch and kind.lost_message == BATCH_LOST_ERROR
    assert kind.on_lost is not None
