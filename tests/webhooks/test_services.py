"""Deliveries: signed, retried with back-off through the job machine, exactly once per
event at the receiver in the end, safe to run twice."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from apps.core.hooks import on_deployment_changed, on_training_finished
from apps.deployments.models import Deployment, DeploymentChange
from apps.training.models import ModelVersion, TrainingJob
from apps.webhooks.events import deployment_changed_emit, training_finished_emit
from apps.webhooks.models import WebhookAttempt, WebhookDelivery
from apps.webhooks.services import delivery_run, event_emit, signature, webhook_create
from tests.webhooks.conftest import Received, receiver_running

pytestmark = pytest.mark.django_db


def verify(received: Received, secret: str) -> bool:
    """What a receiver does: recompute the HMAC of "<timestamp>.<body>" and compare."""
    timestamp = received.headers["X-Bakehouse-Timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(received.headers["X-Bakehouse-Signature"], f"sha256={expected}")


def _version(project, number=1):
    job = TrainingJob.objects.create(project=project, status="succeeded", attempts=1)
    version = ModelVersion.objects.create(
        project=project,
        number=number,
        backbone="mobilenet_v3_small",
        mode="quick",
        labels=["ants", "bees"],
        metrics={"accuracy": 0.925},
        training_job=job,
        onnx_file=f"models/{number}/model.onnx",
    )
    job.model_version = version
    job.save()
    return job, version


def test_the_hooks_are_connected():
    assert training_finished_emit in on_training_finished._receivers
    assert deployment_changed_emit in on_deployment_changed._receivers


def test_a_receiver_failing_twice_gets_each_event_exactly_once_with_a_valid_signature(
    project, local, django_capture_on_commit_callbacks
):
    with receiver_running(fail_each_event=2) as receiver:
        webhook, secret = webhook_create(
            project=project,
            url=receiver.url,
            events=["training.succeeded", "training.failed", "deployment.changed"],
        )
        succeeded, version = _version(project)
        failed = TrainingJob.objects.create(
            project=project, status="failed", attempts=2, error="Out of memory."
        )
        deployment = Deployment.objects.create(
            project=project, slug="ants-1", model_version=version
        )
        change = DeploymentChange.objects.create(
            deployment=deployment, to_version=version, to_number=1, reason="deploy"
        )
        with django_capture_on_commit_callbacks(execute=True):
            on_training_finished.send(job=succeeded)
            on_training_finished.send(job=failed)
            on_deployment_changed.send(change=change)

        deliveries = list(WebhookDelivery.objects.filter(webhook=webhook))
        assert len(deliveries) == 3
        assert {d.event_type for d in deliveries} == {
            "training.succeeded",
            "training.failed",
            "deployment.changed",
        }
        assert all(d.status == "succeeded" and d.attempts == 3 for d in deliveries)
        # Every try carried the same event and a valid signature; each event was accepted
        # (2xx) exactly once.
        assert len(receiver.received) == 9
        assert all(verify(r, secret) for r in receiver.received)
        accepted = [r.json["id"] for r in receiver.received if r.answered == 200]
        assert sorted(accepted) == sorted(str(d.event_id) for d in deliveries)
        for delivery in deliveries:
            bodies = {r.body for r in receiver.received if r.json["id"] == str(delivery.event_id)}
            assert len(bodies) == 1  # retries send the same bytes
        body = next(r.json for r in receiver.received if r.json["type"] == "training.succeeded")
        assert body["data"]["model_version"] == {"id": version.pk, "number": 1, "accuracy": 0.925}
        assert set(body) == {"id", "type", "created_at", "data"}
        log = list(
            WebhookAttempt.objects.filter(delivery=deliveries[0])
            .order_by("attempt")
            .values_list("attempt", "status_code")
        )
        assert log == [(1, 500), (2, 500), (3, 200)]

        # A duplicate message for a delivery that succeeded sends nothing.
        for delivery in deliveries:
            assert delivery_run(delivery_id=delivery.pk) is None
        assert len(receiver.received) == 9


def test_a_delivery_gives_up_after_the_allowed_tries(
    project, local, django_capture_on_commit_callbacks
):
    local.WEBHOOK_MAX_ATTEMPTS = 3
    with receiver_running(script=[500] * 10) as receiver:
        webhook_create(project=project, url=receiver.url, events=["training.failed"])
        with django_capture_on_commit_callbacks(execute=True):
            (delivery,) = event_emit(
                project_id=project.pk, event_type="training.failed", data={"x": 1}
            )
        delivery.refresh_from_db()
        assert delivery.status == "failed" and delivery.attempts == 3
        assert delivery.response_status == 500
        assert "Gave up after 3 tries" in delivery.error
        assert len(receiver.received) == 3


def test_events_go_only_to_subscribed_active_webhooks(project, local):
    with receiver_running() as receiver:
        webhook_create(project=project, url=receiver.url, events=["deployment.changed"])
        assert event_emit(project_id=project.pk, event_type="training.failed", data={}) == []


def test_signature_is_the_hmac_of_timestamp_dot_body():
    body = b'{"id":"1"}'
    expected = hmac.new(b"whsec_x", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(secret="whsec_x", timestamp="1700000000", body=body) == f"sha256={expected}"
    assert signature(secret="whsec_x", timestamp="1700000001", body=body) != f"sha256={expected}"
    assert signature(secret="whsec_y", timestamp="1700000000", body=body) != f"sha256={expected}"


def test_slack_webhooks_post_a_readable_sentence(
    project, local, django_capture_on_commit_callbacks
):
    with receiver_running() as receiver:
        webhook_create(project=project, url=receiver.url, events=["training.failed"], kind="slack")
        failed = TrainingJob.objects.create(
            project=project, status="failed", attempts=1, error="Out of memory."
        )
        with django_capture_on_commit_callbacks(execute=True):
            on_training_finished.send(job=failed)
        (received,) = receiver.received
        text = json.loads(received.body)["text"]
        assert project.name in text and "failed" in text and "Out of memory." in text


def test_a_cancelled_training_sends_nothing(project, local):
    with receiver_running():
        webhook_create(project=project, url="http://127.0.0.1:9/x", events=["training.failed"])
        job = TrainingJob.objects.create(project=project, status="cancelled", attempts=1)
        on_training_finished.send(job=job)
        assert not WebhookDelivery.objects.exists()


def test_the_training_service_announces_a_finished_job(project, local, monkeypatch):
    """The one-line hook in apps.training.services.training_job_run."""
    from apps.training import services as training

    monkeypatch.setattr(
        training,
        "_attempt",
        lambda job: (None, {"status": "failed", "error": "Out of memory.", "log": ""}),
    )
    webhook_create(project=project, url="http://127.0.0.1:9/x", events=["training.failed"])
    job = TrainingJob.objects.create(project=project, status="queued")
    monkeypatch.setattr("apps.webhooks.services.job_dispatch_quietly", lambda *a, **k: None)
    training.training_job_run(job_id=job.pk)
    (delivery,) = WebhookDelivery.objects.all()
    body = json.loads(delivery.body)
    assert body["type"] == "training.failed"
    assert body["data"]["training_job"]["id"] == job.pk
    assert body["data"]["training_job"]["error"] == "Out of memory."


def test_the_deployment_service_announces_a_model_change(project, local, monkeypatch):
    """The hook in apps.deployments.services: every history entry is a deployment.changed."""
    from apps.deployments.services import _change_record

    monkeypatch.setattr("apps.webhooks.services.job_dispatch_quietly", lambda *a, **k: None)
    webhook_create(project=project, url="http://127.0.0.1:9/x", events=["deployment.changed"])
    _, v1 = _version(project, 1)
    _, v2 = _version(project, 2)
    deployment = Deployment.objects.create(project=project, slug="ants-2", model_version=v2)
    _change_record(
        deployment=deployment, from_version=v1, to_version=v2, reason="rollback", changed_by=None
    )
    (delivery,) = WebhookDelivery.objects.all()
    data = json.loads(delivery.body)["data"]
    assert data["deployment"]["slug"] == "ants-2"
    assert (data["from_version"], data["to_version"], data["reason"]) == (1, 2, "rollback")
