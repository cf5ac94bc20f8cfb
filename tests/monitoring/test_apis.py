"""The monitoring API: the figures over a window (error rate from the failed-request
counters), the drift state with sample images, thresholds, alerts and acknowledging; 404
for somebody else's deployment."""

from __future__ import annotations

import time

import numpy as np
import pytest

from apps.deployments.serving.errors import prediction_error_count
from tests.monitoring.conftest import embeddings

pytestmark = pytest.mark.django_db


def _url(deployment, tail: str = "") -> str:
    return f"/api/v1/deployments/{deployment.slug}/monitoring/{tail}"


def test_the_figures_over_a_window(monitored, log_predictions, auth_client):
    log_predictions(embeddings(np.random.default_rng(1), 120))
    prediction_error_count(slug=monitored.slug, status_code=400, now=time.time())
    prediction_error_count(slug=monitored.slug, status_code=500, now=time.time())
    prediction_error_count(slug=monitored.slug, status_code=401, now=time.time())  # a refusal
    response = auth_client.get(_url(monitored), {"window": "1h"})
    assert response.status_code == 200, response.content
    body = response.json()
    totals = body["totals"]
    assert totals["requests"] == 120 and totals["failed_requests"] == 2
    assert totals["error_rate"] == pytest.approx(2 / 122, abs=1e-4)
    assert totals["uncertain_rate"] == 0 and totals["ood_rate"] == 0
    assert 10 <= totals["latency_ms"]["p50"] <= totals["latency_ms"]["p99"] <= 16
    assert body["label_mix"] == {"ants": 0.5, "bees": 0.5}
    assert body["training_mix"] == {"ants": 0.5, "bees": 0.5}
    assert body["bucket_seconds"] == 60 and 60 <= len(body["buckets"]) <= 62
    assert sum(b["requests"] for b in body["buckets"]) == 120
    assert sum(b["failed_requests"] for b in body["buckets"]) == 2
    assert body["drift"]["status"] == "ok" and body["drift"]["samples"] == []
    for window in ("6h", "24h", "7d", "30d"):
        answer = auth_client.get(_url(monitored), {"window": window}).json()
        assert answer["totals"]["requests"] == 120 and answer["totals"]["failed_requests"] == 2


def test_an_unknown_window_is_a_400(monitored, auth_client):
    response = auth_client.get(_url(monitored), {"window": "2y"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_window"


def test_a_drift_alert_shows_its_sample_images_and_can_be_acknowledged(
    monitored, log_predictions, auth_client
):
    rng = np.random.default_rng(2)
    features = np.concatenate([embeddings(rng, 300), embeddings(rng, 100, shift=4.0)])
    log_predictions(features[rng.permutation(400)])
    checked = auth_client.post(_url(monitored, "check/"))
    assert checked.status_code == 200, checked.content
    drift = checked.json()
    assert drift["status"] == "alert" and drift["p_value"] < 0.005 and drift["window"] == 400
    assert len(drift["samples"]) == 8 and drift["samples"][0]["image_url"]
    body = auth_client.get(_url(monitored)).json()
    assert body["drift"]["alert"] == drift["alert"] and body["drift"]["since"]
    alerts = auth_client.get(_url(monitored, "alerts/")).json()
    assert [a["id"] for a in alerts] == [drift["alert"]] and not alerts[0]["acknowledged"]
    samples = auth_client.get(_url(monitored, f"alerts/{drift['alert']}/samples/")).json()
    assert [s["id"] for s in samples] == alerts[0]["sample_prediction_ids"]
    done = auth_client.post(_url(monitored, f"alerts/{drift['alert']}/acknowledge/"))
    assert done.status_code == 200 and done.json()["acknowledged"] is True
    assert auth_client.get(_url(monitored)).json()["drift"]["alert"] is None
    assert auth_client.post(_url(monitored, "alerts/999999/acknowledge/")).status_code == 404


def test_thresholds_are_read_and_changed(monitored, auth_client):
    assert auth_client.get(_url(monitored, "settings/")).json() == {
        "enabled": True,
        "window": 400,
        "alert_p": 0.01,
        "warning_p": 0.05,
    }
    changed = auth_client.patch(
        _url(monitored, "settings/"), {"alert_p": 0.001, "window": 300}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["alert_p"] == 0.001
    assert changed.json()["window"] == 300
    wrong = auth_client.patch(_url(monitored, "settings/"), {"alert_p": 0.5}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "invalid_threshold"


def test_somebody_elses_deployment_is_a_404(monitored, other_client):
    for tail in ("", "settings/", "alerts/"):
        assert other_client.get(_url(monitored, tail)).status_code == 404
    assert other_client.post(_url(monitored, "check/")).status_code == 404
