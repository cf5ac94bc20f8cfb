"""The INT8 copy is its own job on the job machine: the model is ready before it, the copy
lands on the version when it ends, and the job is safe to run twice or to lose."""

from __future__ import annotations

import pytest

from apps.training.compression_jobs import (
    COMPRESSION_LOST_ERROR,
    compression_job_on_lost,
    compression_job_run,
)
from apps.training.models import CompressionJob, TrainingJob
from apps.training.services import training_job_create
from tests.training.conftest import add_real_images

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(project, hymenoptera, django_capture_on_commit_callbacks):
    add_real_images(project, hymenoptera, split_counts={"train": 4, "test": 2})
    with django_capture_on_commit_callbacks(execute=True):
        job = training_job_create(project=project, mode="quick")
    job.refresh_from_db()
    assert job.status == TrainingJob.Status.SUCCEEDED, (job.error, job.log)
    return job.model_version


def test_the_int8_copy_arrives_after_the_model_by_its_own_job(version):
    job = CompressionJob.objects.get(model_version=version)
    assert job.status == CompressionJob.Status.SUCCEEDED and job.attempts == 1
    version.refresh_from_db()
    assert version.int8_onnx_file.name.endswith("model.int8.onnx")
    assert version.metrics["int8"]["evaluated_on"] == "held_out"
    assert version.metrics["int8"]["evaluated_images"] == 4
    # The training job finished without it: its own metrics never waited for the copy.
    assert "int8" not in version.training_job.metrics
    # The version's other figures were kept when the int8 entry was added.
    assert version.metrics["evaluated_on"] == "test" and "accuracy" in version.metrics


def test_running_the_job_twice_changes_nothing(version):
    job = CompressionJob.objects.get(model_version=version)
    version.refresh_from_db()
    before = (version.int8_onnx_file.name, version.metrics["int8"])
    assert compression_job_run(job_id=job.pk) is None  # not queued: a duplicate message
    job.status = CompressionJob.Status.QUEUED
    job.save(update_fields=["status"])
    assert compression_job_run(job_id=job.pk).status == CompressionJob.Status.SUCCEEDED
    version.refresh_from_db()
    assert (version.int8_onnx_file.name, version.metrics["int8"]) == before


def test_a_lost_job_stops_saying_compressing(version):
    job = CompressionJob.objects.get(model_version=version)
    version.int8_onnx_file = ""
    version.metrics = {**version.metrics, "int8": {"status": "compressing"}}
    version.save(update_fields=["int8_onnx_file", "metrics"])
    assert compression_job_on_lost(job, True) == {}
    version.refresh_from_db()
    assert version.metrics["int8"] == {"status": "compressing"}  # another attempt comes
    compression_job_on_lost(job, False)
    version.refresh_from_db()
    assert version.metrics["int8"] == {"error": COMPRESSION_LOST_ERROR}
    assert "accuracy" in version.metrics
