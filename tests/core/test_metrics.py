"""/metrics: closed by default, bearer token, what it counts, multiprocess aggregation,
queue lengths from the broker, and the cost on the request path."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from apps.core import metrics
from apps.core.metrics import metrics_text, predictions_observe

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_is_404_unless_a_token_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_needs_the_bearer_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-metrics-token").status_code == 401
    )
    answer = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    assert b"bakehouse_broker_up" in answer.content


@pytest.mark.django_db
def test_requests_are_counted_by_view_and_status(client, settings):
    settings.METRICS_TOKEN = "t"
    labels = {"view": "health-live", "method": "GET", "status": "200"}
    before = _value("bakehouse_http_requests_total", **labels)
    assert client.get("/api/v1/health/live/").status_code == 200
    assert _value("bakehouse_http_requests_total", **labels) == before + 1
    assert _value("bakehouse_http_request_duration_seconds_count", view="health-live") >= 1
    # An unknown path is one label value ("unresolved" or the catch-all's name), never the path.
    client.get("/api/v1/no/such/thing-12345/")
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    assert "thing-12345" not in text
    assert 'bakehouse_http_requests_total{method="GET",status="200",view="health-live"}' in text


def test_predictions_are_counted_by_deployment_and_label():
    before = _value("bakehouse_predictions_total", deployment="ants-x", label="bees")
    predictions_observe(deployment="ants-x", labels=["bees", "bees", "ants"], seconds=0.004)
    assert _value("bakehouse_predictions_total", deployment="ants-x", label="bees") == before + 2
    assert _value("bakehouse_prediction_duration_seconds_count", deployment="ants-x") >= 1


@pytest.mark.django_db
def test_the_job_machine_counts_jobs_by_kind(project_for_jobs):
    from apps.core.jobs import job_claim, job_finish
    from apps.webhooks.models import Webhook, WebhookDelivery

    kind = "webhooks.WebhookDelivery"
    started = _value("bakehouse_jobs_started_total", kind=kind)
    failed = _value("bakehouse_jobs_finished_total", kind=kind, status="failed")
    webhook = Webhook.objects.create(
        project=project_for_jobs, url="http://example.com/", events=["drift.alert"], secret="x"
    )
    row = WebhookDelivery.objects.create(
        webhook=webhook, event_id="6f1c0c54-1b53-4c1b-9a43-4f1f6f2b9a10", event_type="x", body="{}"
    )
    job = job_claim(WebhookDelivery, row.pk)
    assert job is not None and job_finish(job, status="failed", error="no")
    assert _value("bakehouse_jobs_started_total", kind=kind) == started + 1
    assert _value("bakehouse_jobs_finished_total", kind=kind, status="failed") == failed + 1


@pytest.fixture
def project_for_jobs(user):
    from tests.factories import ProjectFactory

    return ProjectFactory(owner=user)


def test_multiprocess_mode_adds_up_every_process(tmp_path, monkeypatch):
    """Two processes (as gunicorn's and Celery's) write to the shared folder; one scrape
    reads both."""
    script = (
        "from apps.core import metrics\n"
        "metrics.job_started('demo.Job')\n"
        "metrics.request_observe(view='x', method='GET', status=200, seconds=0.01)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO_ROOT, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(metrics, "queue_lengths", lambda: {"default": 3, "webhooks": 0})
    text = metrics_text().decode()
    assert 'bakehouse_jobs_started_total{kind="demo.Job"} 2.0' in text
    assert 'bakehouse_http_requests_total{method="GET",status="200",view="x"} 2.0' in text
    assert 'bakehouse_queue_length{queue="default"} 3.0' in text
    assert "bakehouse_broker_up 1.0" in text


def test_queue_lengths_are_read_from_the_broker(tmp_path, monkeypatch):
    import redis

    from apps.core.processes import redis_server_executable
    from bakehouse.celery import app

    sock = tmp_path / "r.sock"
    server = subprocess.Popen(
        [redis_server_executable(), "--port", "0", "--unixsocket", str(sock), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        client = redis.Redis(unix_socket_path=str(sock))
        client.rpush("webhooks", b"a", b"b")
        client.rpush("training", b"c")
        monkeypatch.setattr(app.conf, "broker_url", f"redis+socket://{sock}")
        monkeypatch.setattr(app.conf, "broker_read_url", None)
        assert metrics.queue_lengths() == {"default": 0, "training": 1, "webhooks": 2}
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_broker_that_does_not_answer_is_reported_not_raised(monkeypatch):
    def down():
        raise ConnectionError("no broker")

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(metrics, "queue_lengths", down)
    text = metrics_text().decode()
    assert "bakehouse_broker_up 0.0" in text
    assert "bakehouse_queue_length{" not in text


BENCH = """
import time
from types import SimpleNamespace
from apps.core.metrics import MetricsMiddleware, predictions_observe

response = SimpleNamespace(status_code=200)
middleware = MetricsMiddleware(lambda request: response)
request = SimpleNamespace(
    method="POST", resolver_match=SimpleNamespace(view_name="deployment-predict")
)
n = 20_000
for rounds in range(2):  # the first round warms up (files created, children cached)
    started = time.process_time()
    for _ in range(n):
        middleware(request)
        predictions_observe(deployment="bench", labels=["ants"], seconds=0.003)
print((time.process_time() - started) / n * 1e6)
"""


def test_counting_costs_microseconds_per_request(tmp_path):
    """The CPU that one prediction request pays for metrics, as it runs under gunicorn
    (multiprocess mode): the middleware's count and latency, and the prediction's label and
    latency. Printed for the README; bounded so a regression fails."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", BENCH], env=env, cwd=REPO_ROOT, check=True, capture_output=True
    )
    per_request_us = float(out.stdout.decode().split()[-1])
    print(f"metrics: {per_request_us:.1f} us of CPU per prediction request (multiprocess mode)")
    assert per_request_us < 60
