"""GET /api/v1/system/: staff only; workers, queue lengths and the active jobs of every kind."""

from __future__ import annotations

import pytest

from apps.core import system
from apps.webhooks.models import Webhook, WebhookDelivery
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

HEALTH = {"status": "ok", "database": "ok", "broker": "ok", "workers": 1}


@pytest.fixture
def staff_client(api_client, django_user_model):
    admin = django_user_model.objects.create_user(username="root", password="x", is_staff=True)
    api_client.force_authenticate(admin)
    return api_client


def test_only_staff_see_the_system(auth_client, api_client):
    assert auth_client.get("/api/v1/system/").status_code == 403
    assert api_client.get("/api/v1/system/").status_code in (401, 403)


def test_workers_queues_and_active_jobs(staff_client, user, monkeypatch):
    monkeypatch.setattr(system, "platform_health", lambda: dict(HEALTH))
    monkeypatch.setattr(
        system,
        "workers_list",
        lambda: [{"name": "webhooks@host", "queues": ["webhooks"]}],
    )
    monkeypatch.setattr(system, "queue_lengths", lambda: {"default": 2, "webhooks": 0})
    webhook = Webhook.objects.create(
        project=ProjectFactory(owner=user), url="http://e.com/", events=["drift.alert"], secret="x"
    )

    def make(n: int, **fields):
        event_id = f"6f1c0c54-1b53-4c1b-9a43-4f1f6f2b9a1{n}"
        return WebhookDelivery.objects.create(
            webhook=webhook, event_id=event_id, event_type="x", body="{}", **fields
        )

    running = make(0, status="running", worker="host:12", attempts=1)
    queued = make(1)
    make(2, status="succeeded")

    body = staff_client.get("/api/v1/system/").json()
    assert body["health"]["status"] == "ok"
    assert body["workers"] == [{"name": "webhooks@host", "queues": ["webhooks"]}]
    assert body["queues"] == [{"name": "default", "length": 2}, {"name": "webhooks", "length": 0}]
    jobs = [(j["kind"], j["id"], j["status"], j["worker"]) for j in body["jobs"]]
    assert jobs == [
        ("webhook delivery", running.pk, "running", "host:12"),
        ("webhook delivery", queued.pk, "queued", ""),
    ]


def test_a_broker_that_is_down_is_not_asked(staff_client, monkeypatch):
    monkeypatch.setattr(
        system, "platform_health", lambda: {**HEALTH, "status": "down", "broker": "down: x"}
    )

    def must_not_run():
        raise AssertionError("asked a broker that is down")

    monkeypatch.setattr(system, "workers_list", must_not_run)
    monkeypatch.setattr(system, "queue_lengths", must_not_run)
    body = staff_client.get("/api/v1/system/").json()
    assert body["workers"] == [] and body["queues"] is None
