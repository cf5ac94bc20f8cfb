"""The retraining policy: settings through the API, when it falls due, what it starts, and
what becomes of the model it trained (a shadow candidate behind the gate, never a silent
switch)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.hooks import on_drift_alert, on_training_finished
from apps.retraining.models import RetrainPolicy
from apps.retraining.services import (
    drift_alert_retrain,
    retrain_due_reason,
    retrain_policies_check,
    retrain_policy_update,
)
from apps.training.models import TrainingJob
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db


def _url(project) -> str:
    return f"/api/v1/projects/{project.pk}/retraining/"


def _labelled(project, count: int) -> None:
    for index in range(count):
        ImageFactory(project=project, label="ants" if index % 2 else "bees")


def test_policy_defaults_then_changed_through_the_api(auth_client, other_client, project):
    shown = auth_client.get(_url(project)).json()
    assert shown["enabled"] is False
    assert shown["gate_min_requests"] == 200
    assert shown["status"]["last_job"] is None

    response = auth_client.put(
        _url(project),
        {"enabled": True, "new_labels": 5, "every_hours": 24, "mode": "fast"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["enabled"], body["new_labels"], body["every_hours"], body["mode"]) == (
        True,
        5,
        24,
        "quick",
    )
    # Only the given fields change.
    body = auth_client.put(_url(project), {"on_drift": True}, format="json").json()
    assert (body["on_drift"], body["new_labels"]) == (True, 5)
    assert other_client.get(_url(project)).status_code == 404


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"enabled": True, "new_labels": None}, "invalid_policy"),
        ({"mode": "turbo"}, "invalid_mode"),
        ({"new_labels": 0}, "invalid_new_labels"),
    ],
)
def test_bad_policies_are_refused_and_nothing_changes(auth_client, project, payload, code):
    auth_client.put(_url(project), {"new_labels": 7}, format="json")
    response = auth_client.put(_url(project), payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert RetrainPolicy.objects.get(project=project).new_labels == 7


def test_new_labels_since_the_last_model_trigger_one_job(project, version):
    policy = retrain_policy_update(project=project, values={"enabled": True, "new_labels": 10})
    _labelled(project, 9)
    assert retrain_due_reason(policy=policy) is None
    _labelled(project, 3)
    assert "12 new labels" in (retrain_due_reason(policy=policy) or "")

    assert retrain_policies_check() == 1
    policy.refresh_from_db()
    job = policy.last_job
    assert job is not None and job.status == TrainingJob.Status.QUEUED
    assert "new labels" in policy.last_reason
    # The clock restarts at the trigger: checking again starts nothing more.
    assert retrain_policies_check() == 0
    assert TrainingJob.objects.filter(project=project).count() == 1


def test_labels_before_the_last_model_do_not_count(project, make_version):
    _labelled(project, 6)
    make_version(project, "v1")
    policy = retrain_policy_update(project=project, values={"enabled": True, "new_labels": 4})
    assert retrain_due_reason(policy=policy) is None


def test_schedule_falls_due_after_its_hours(project, version):
    policy = retrain_policy_update(project=project, values={"enabled": True, "every_hours": 6})
    assert retrain_due_reason(policy=policy) is None
    type(version).objects.filter(pk=version.pk).update(
        created_at=timezone.now() - timedelta(hours=7)
    )
    assert retrain_due_reason(policy=policy) == "scheduled: every 6 h"


def test_a_project_that_cannot_train_records_why(project):
    policy = retrain_policy_update(project=project, values={"enabled": True, "every_hours": 1})
    assert retrain_policies_check() == 0  # no labelled images: the job is refused
    policy.refresh_from_db()
    assert policy.last_job is None
    assert policy.last_outcome.startswith("Not retrained:")
    assert policy.last_triggered_at is not None


def test_drift_alert_retrains_once_per_cooldown(project, deployment):
    _labelled(project, 12)
    retrain_policy_update(project=project, values={"enabled": True, "on_drift": True})

    class Alert:
        pass

    alert = Alert()
    alert.deployment = deployment  # type: ignore[attr-defined]
    assert drift_alert_retrain in on_drift_alert._receivers
    drift_alert_retrain(alert=alert)
    drift_alert_retrain(alert=alert)
    assert TrainingJob.objects.filter(project=project).count() == 1
    policy = RetrainPolicy.objects.get(project=project)
    assert "drift alert" in policy.last_reason


def test_the_retrained_model_becomes_the_shadow_candidate(project, deployment, make_version):
    _labelled(project, 12)
    policy = retrain_policy_update(
        project=project, values={"enabled": True, "new_labels": 1, "gate_min_requests": 50}
    )
    assert retrain_policies_check() == 1
    policy.refresh_from_db()
    job = policy.last_job
    live = deployment.model_version_id
    new = make_version(project, "v2")
    job.status = TrainingJob.Status.SUCCEEDED
    job.model_version = new
    job.save()

    on_training_finished.send(job=job)

    deployment.refresh_from_db()
    assert deployment.model_version_id == live  # never a silent switch
    assert deployment.candidate_version_id == new.pk
    assert deployment.candidate_mode == "shadow"
    policy.refresh_from_db()
    assert f"v{new.number}" in policy.last_outcome and "shadow candidate" in policy.last_outcome


def test_a_failed_retraining_is_recorded(project):
    _labelled(project, 12)
    policy = retrain_policy_update(project=project, values={"enabled": True, "new_labels": 1})
    retrain_policies_check()
    policy.refresh_from_db()
    job = policy.last_job
    job.status = TrainingJob.Status.FAILED
    job.error = "out of memory"
    job.save()
    on_training_finished.send(job=job)
    policy.refresh_from_db()
    assert policy.last_outcome == f"Training job {job.pk} failed: out of memory"


def test_retrain_now_through_the_api(auth_client, project):
    assert auth_client.post(_url(project) + "run/").status_code == 409  # nothing to train on
    _labelled(project, 12)
    response = auth_client.post(_url(project) + "run/")
    assert response.status_code == 202, response.content
    assert response.json()["status"]["last_job"]["status"] == "queued"
    assert auth_client.post(_url(project) + "run/").status_code == 409  # already training
