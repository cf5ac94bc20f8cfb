"""The platform as `make up` runs it: real broker, real workers, real web server."""

import pytest
from celery import Celery

from tests.e2e.helpers import wait_for

pytestmark = pytest.mark.e2e


def test_health_reports_database_broker_and_workers(live_platform):
    # Each web process refreshes its figures every HEALTH_FRESH_SECONDS (5 s) and answers
    # the last ones meanwhile: one that last pinged while the workers were still starting
    # may answer a lower count for those few seconds.
    with live_platform.client() as client:
        body = wait_for(
            client, "/api/v1/health/", lambda b: b.get("workers", 0) >= 2, timeout=15, interval=0.5
        )
    assert body == {"status": "ok", "database": "ok", "broker": "ok", "workers": body["workers"]}
    assert body["workers"] >= 2  # the default-queue and the training-queue workers


def test_celery_round_trip_through_a_real_worker(live_platform):
    platform = live_platform.platform
    broker = platform.config.redis_url or f"redis+socket://{platform.redis_socket}"
    app = Celery("probe", broker=broker, backend=broker)
    try:
        result = app.send_task("core.ping", args=["round-trip"], queue="default")
        assert result.get(timeout=30) == "round-trip"
    finally:
        app.close()


def test_browser_app_and_docs_are_served(live_platform):
    with live_platform.client() as client:
        index = client.get("/projects")
        docs = client.get("/api/docs/")
        schema = client.get("/api/v1/schema/")
    assert index.status_code == 200 and "<html" in index.text.lower()
    assert docs.status_code == 200
    assert schema.status_code == 200 and "/api/v1/health/" in schema.text


def test_signup_and_token_over_http(live_platform):
    client = live_platform.signup("e2e-alice")
    with client:
        assert client.get("/api/v1/auth/me/").json()["username"] == "e2e-alice"
    with live_platform.client() as anonymous:
        token = anonymous.post(
            "/api/v1/auth/token/",
            json={"username": "e2e-alice", "password": "a-long-enough-pass-42"},
        )
        assert token.status_code == 200
        wrong = anonymous.post(
            "/api/v1/auth/token/", json={"username": "e2e-alice", "password": "x"}
        )
        assert wrong.status_code == 401
