"""The real thing: `manage.py up`'s processes (web, a worker per queue, beat, Redis). A
receiver that fails twice gets the test event exactly once in the end, signed, sent by the
worker of the "webhooks" queue with back-off; /metrics on the web process adds up the web's
and the workers' counts (multiprocess mode) and reads the queue lengths from the broker."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from tests.e2e.conftest import start_live_platform
from tests.webhooks.conftest import receiver_running
from tests.webhooks.test_services import verify

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "metrics-token-for-the-test"


def test_delivery_by_the_webhooks_worker_and_metrics_of_every_process(tmp_path):
    live, stop = start_live_platform(
        tmp_path / "var",
        extra_env={
            "BAKEHOUSE_URL_ALLOWLIST": "127.0.0.1",
            "BAKEHOUSE_WEBHOOK_BACKOFF_SECONDS": "0.5",
            "BAKEHOUSE_METRICS_TOKEN": TOKEN,
        },
    )
    try:
        assert "worker-webhooks" in live.platform.processes
        with receiver_running(fail_each_event=2) as receiver, live.signup() as client:
            project = client.post("/api/v1/projects/", json={"name": "Hooks"}).json()
            created = client.post(
                f"/api/v1/projects/{project['id']}/webhooks/",
                json={"url": receiver.url, "events": ["training.succeeded"]},
            )
            assert created.status_code == 201, created.text
            hook = created.json()
            base = f"/api/v1/projects/{project['id']}/webhooks/{hook['id']}"
            assert client.post(f"{base}/test/").status_code == 202

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                (delivery,) = client.get(f"{base}/deliveries/").json()
                if delivery["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.3)
            assert delivery["status"] == "succeeded", delivery
            assert [t["status_code"] for t in delivery["tries"]] == [500, 500, 200]
            assert [r.answered for r in receiver.received] == [500, 500, 200]
            assert {r.json["id"] for r in receiver.received} == {delivery["event_id"]}
            assert all(verify(r, hook["secret"]) for r in receiver.received)
            # Back-off: 0.5 s before the second try, 1 s before the third.
            starts = [datetime.fromisoformat(t["started_at"]) for t in delivery["tries"]]
            gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
            assert gaps[0] >= 0.45 and gaps[1] >= 0.95, gaps

            with live.client() as anonymous:
                assert anonymous.get("/metrics").status_code == 401
                scraped = anonymous.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert scraped.status_code == 200
        text = scraped.text
        # Counted in the worker's pool processes, read by the web process.
        assert 'bakehouse_jobs_started_total{kind="webhooks.WebhookDelivery"} 3.0' in text
        assert (
            'bakehouse_jobs_finished_total{kind="webhooks.WebhookDelivery",status="succeeded"} 1.0'
            in text
        )
        assert (
            'bakehouse_http_requests_total{method="POST",status="202",view="webhook-test"}' in text
        )
        assert 'bakehouse_queue_length{queue="webhooks"} 0.0' in text
        assert "bakehouse_broker_up 1.0" in text
    finally:
        stop()
