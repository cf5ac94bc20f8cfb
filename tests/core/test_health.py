import threading
import time

import pytest
from django.core.cache import cache

from apps.core import selectors
from apps.core.selectors import HealthMonitor


@pytest.fixture(autouse=True)
def _monitor(monkeypatch):
    """Each test gets a fresh monitor with real checks; the generous wait lets the first
    check on a busy test machine finish before the answer."""
    monkeypatch.setattr(selectors, "_monitor", HealthMonitor(wait=10.0))
    cache.delete(selectors.WORKERS_CACHE_KEY)


def _use(monkeypatch, **kwargs) -> HealthMonitor:
    monitor = HealthMonitor(**kwargs)
    monkeypatch.setattr(selectors, "_monitor", monitor)
    return monitor


@pytest.mark.django_db
def test_health_without_broker_is_503_and_names_it(api_client, settings, tmp_path):
    from bakehouse.celery import app

    app.conf.broker_url = f"redis+socket://{tmp_path}/nothing-here.sock"
    try:
        response = api_client.get("/api/v1/health/")
    finally:
        app.conf.broker_url = settings.CELERY_BROKER_URL
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("down")
    assert body["workers"] == 0
    assert body["message"] == "broker unavailable"


def test_down_database_is_503_and_names_it(api_client, monkeypatch):
    _use(
        monkeypatch,
        database_check=lambda: "down: OperationalError",
        broker_check=lambda: "ok",
        workers_check=lambda: ["default@a", "training@a"],
        wait=10.0,
    )
    for path in ("/api/v1/health/", "/api/v1/health/ready/"):
        response = api_client.get(path)
        assert response.status_code == 503
        assert response.json()["database"] == "down: OperationalError"
        assert response.json()["message"] == "database unavailable"


def test_healthy_platform_is_200_with_the_worker_count(api_client, monkeypatch):
    monitor = _use(
        monkeypatch,
        database_check=lambda: "ok",
        broker_check=lambda: "ok",
        workers_check=lambda: ["default@a", "training@a"],
        wait=10.0,
    )
    monitor.health()
    time.sleep(0.05)  # the ping runs after the database and broker results are out
    response = api_client.get("/api/v1/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "workers": 2}


def test_a_worker_that_misses_one_ping_still_counts_until_it_stays_silent(monkeypatch):
    """On a loaded machine a busy worker can miss the ping's one-second time-out; the count
    must not flicker with it, yet a worker gone for good drops out."""
    answers = [["default@a", "training@a"], ["default@a"], ["default@a"]]
    monitor = _use(
        monkeypatch,
        database_check=lambda: "ok",
        broker_check=lambda: "ok",
        workers_check=lambda: answers.pop(0),
        wait=10.0,
        fresh=0.0,
        remember=0.5,
    )

    def workers_after_refresh() -> int:
        monitor.health()
        deadline = time.monotonic() + 5
        while monitor._refresh_started is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        return monitor._workers or 0

    assert workers_after_refresh() == 2
    assert workers_after_refresh() == 2  # training@a missed this ping
    time.sleep(0.6)
    assert workers_after_refresh() == 1  # and stayed silent past the window


def test_web_processes_count_the_workers_any_of_them_heard(monkeypatch):
    """Each gunicorn worker has its own monitor; one whose first ping missed a busy worker
    still counts it when another web process heard it moments ago."""
    first = HealthMonitor(
        database_check=lambda: "ok",
        broker_check=lambda: "ok",
        workers_check=lambda: ["default@a", "training@a", "webhooks@a"],
        wait=10.0,
        fresh=0.0,
    )
    second = HealthMonitor(
        database_check=lambda: "ok",
        broker_check=lambda: "ok",
        workers_check=lambda: ["default@a"],  # the other two were busy
        wait=10.0,
        fresh=0.0,
    )
    for monitor in (first, second):
        monitor.health()
        deadline = time.monotonic() + 5
        while monitor._refresh_started is not None and time.monotonic() < deadline:
            time.sleep(0.01)
    assert first._workers == 3
    assert second._workers == 3


def test_many_concurrent_calls_answer_fast_and_ping_once(monkeypatch):
    pings = []

    def slow_ping() -> int:
        pings.append(time.monotonic())
        time.sleep(1.0)  # control.ping always waits its whole time-out
        return ["default@a", "training@a"]

    monitor = _use(
        monkeypatch,
        database_check=lambda: "ok",
        broker_check=lambda: "ok",
        workers_check=slow_ping,
        wait=0.1,
        fresh=5.0,
    )
    durations: list[float] = []
    results: list[dict] = []

    def call() -> None:
        started = time.monotonic()
        results.append(monitor.health())
        durations.append(time.monotonic() - started)

    for _round in range(3):
        threads = [threading.Thread(target=call) for _ in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(durations) == 72
    # 100 ms at most by design; the margin is for a busy 2-core test machine.
    assert max(durations) < 0.5, max(durations)
    assert len(pings) == 1
    assert all(r["database"] == "ok" and r["broker"] == "ok" for r in results)


def test_a_hanging_broker_never_holds_a_caller(monkeypatch):
    release = threading.Event()

    def hanging_broker() -> str:
        release.wait(5)
        return "ok"

    monitor = _use(
        monkeypatch,
        database_check=lambda: "ok",
        broker_check=hanging_broker,
        workers_check=lambda: ["default@a"],
        wait=0.1,
        hung=0.3,
    )
    try:
        started = time.monotonic()
        first = monitor.health()
        assert time.monotonic() - started < 0.5
        assert first["status"] == "starting" and first["broker"] == "checking"
        time.sleep(0.4)
        later = monitor.health()
        assert later["status"] == "down"
        assert later["broker"].startswith("down: no answer")
    finally:
        release.set()


def test_the_checks_rerun_once_the_result_is_stale(monkeypatch):
    calls = []
    monitor = _use(
        monkeypatch,
        database_check=lambda: calls.append("db") or "ok",
        broker_check=lambda: "ok",
        workers_check=lambda: ["default@a"],
        wait=2.0,
        fresh=0.2,
    )
    monitor.health()
    monitor.health()
    assert calls == ["db"]
    time.sleep(0.3)
    monitor.health()
    assert calls == ["db", "db"]


def test_liveness_answers_from_the_process_alone(api_client, monkeypatch):
    """No database access (this test has none: a query would fail it), no checks."""

    def boom() -> str:
        raise AssertionError("liveness must not check anything")

    _use(monkeypatch, database_check=boom, broker_check=boom, workers_check=boom)
    response = api_client.get("/api/v1/health/live/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_a_fresh_web_process_answers_the_workers_others_heard_while_its_ping_runs():
    """A gunicorn worker's first health answer comes before its own ping (which always waits
    its whole time-out) is back: it must report what the other web processes heard, not 0."""
    release = threading.Event()
    first = HealthMonitor(
        database_check=lambda: "ok",
        broker_check=lambda: "ok",
        workers_check=lambda: ["default@a", "training@a", "webhooks@a"],
        wait=10.0,
    )
    first.health()
    deadline = time.monotonic() + 5
    while first._refresh_started is not None and time.monotonic() < deadline:
        time.sleep(0.01)

    def slow_ping() -> list[str]:
        release.wait(5)
        return ["default@a", "training@a", "webhooks@a"]

    fresh = HealthMonitor(
        database_check=lambda: "ok", broker_check=lambda: "ok", workers_check=slow_ping, wait=10.0
    )
    try:
        assert fresh.health()["workers"] == 3
    finally:
        release.set()
