"""The per-process serving machinery: batching, the registry's caches, warm-up, the
background prediction log writer."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from django.utils import timezone

from apps.deployments.models import PredictionLog
from apps.deployments.prediction_log import LogEntry, PredictionLogWriter
from apps.deployments.serving import ModelRunner, ServingRegistry, registry, warm_up
from apps.deployments.throttling import rate_limit_clean


class _SlowPredictor:
    """Row i of the answer is [x, 1 - x] where x is the mean of input i; records batch sizes."""

    labels = ("a", "b")

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.batch_sizes: list[int] = []
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0

    def predict_arrays(self, batch: np.ndarray) -> np.ndarray:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        self.batch_sizes.append(len(batch))
        time.sleep(self.delay)
        means = batch.reshape(len(batch), -1).mean(axis=1)
        with self.lock:
            self.running -= 1
        return np.stack([means, 1 - means], axis=1)


def _predict_concurrently(runner: ModelRunner, values: list[float]) -> list[float]:
    """One single-image request per value from 8 threads; each request's answer, in order."""

    def one(value: float) -> float:
        answer = runner.predict_arrays(np.full((1, 3, 4, 4), value, dtype=np.float32))
        return float(answer[0, 0])

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, values))


@pytest.mark.parametrize("max_batch", [2, 32])
def test_runner_batches_concurrent_requests_and_routes_answers(max_batch):
    predictor = _SlowPredictor()
    runner = ModelRunner(predictor, version_id=1, max_batch=max_batch)
    values = [i / 100 for i in range(40)]
    answers = _predict_concurrently(runner, values)
    assert answers == pytest.approx(values)
    assert predictor.max_running == 1  # one session call at a time
    assert max(predictor.batch_sizes) > 1  # concurrent requests shared calls
    assert max(predictor.batch_sizes) <= max_batch
    assert sum(predictor.batch_sizes) == 40  # each request ran exactly once


def test_runner_alone_runs_at_once_and_keeps_multi_image_batches_together():
    predictor = _SlowPredictor(delay=0)
    runner = ModelRunner(predictor, version_id=1, max_batch=4)
    batch = np.stack([np.full((3, 2, 2), v, dtype=np.float32) for v in (0.1, 0.2, 0.3)])
    answer = runner.predict_arrays(batch)
    assert answer[:, 0] == pytest.approx([0.1, 0.2, 0.3])
    assert predictor.batch_sizes == [3]


def test_runner_hands_errors_to_every_request_of_the_batch():
    class Broken:
        labels = ("a",)

        def predict_arrays(self, batch):
            raise RuntimeError("boom")

    runner = ModelRunner(Broken(), version_id=1)
    with pytest.raises(RuntimeError, match="boom"):
        runner.predict_arrays(np.zeros((1, 3, 2, 2), dtype=np.float32))
    # The runner is not stuck afterwards.
    with pytest.raises(RuntimeError, match="boom"):
        runner.predict_arrays(np.zeros((1, 3, 2, 2), dtype=np.float32))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("600/min", "600/min"), ("5/s", "5/sec"), (" 10 / Hour ", "10/hour"), ("1/day", "1/day")],
)
def test_rate_limits(raw, clean):
    assert rate_limit_clean(raw) == clean


@pytest.mark.django_db
def test_deployment_snapshot_is_cached_until_a_change(
    deployment, make_version, project, django_capture_on_commit_callbacks
):
    from apps.deployments.services import deployment_update

    other_process = ServingRegistry()
    other_process.refresh()
    before = other_process.deployment(deployment.slug)
    assert before.model_version_id == deployment.model_version_id
    v2 = make_version(project, "v2")
    other_process.refresh()
    assert other_process.deployment(deployment.slug) is before  # cached: no change yet
    with django_capture_on_commit_callbacks(execute=True):
        deployment_update(deployment=deployment, model_version_id=v2.pk)
    other_process.refresh()
    after = other_process.deployment(deployment.slug)
    assert after.model_version_id == v2.pk
    assert before.model_version_id != after.model_version_id  # snapshots are immutable


@pytest.mark.django_db
def test_warm_up_loads_the_active_deployments(deployment):
    registry.unload_all()
    loaded = warm_up()
    assert loaded == [deployment.model_version_id]
    assert registry.loaded_versions() == [deployment.model_version_id]


@pytest.mark.django_db
def test_a_version_is_loaded_once_under_concurrent_first_requests(deployment, monkeypatch):
    import apps.deployments.serving as serving

    registry.unload_all()
    calls = []
    real = serving._load_predictors

    def counting(**kwargs):
        calls.append(kwargs)
        time.sleep(0.05)
        return real(**kwargs)

    monkeypatch.setattr(serving, "_load_predictors", counting)
    registry.refresh()
    live = registry.deployment(deployment.slug)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runners = list(pool.map(lambda _: registry.runner(live), range(4)))
    assert len(calls) == 1
    assert all(r is runners[0] for r in runners)


def _entry(deployment, *, image: bytes | None = b"\xff\xd8fake") -> LogEntry:
    return LogEntry(
        uid=uuid.uuid4(),
        deployment_id=deployment.pk,
        deployment_slug=deployment.slug,
        model_version_id=deployment.model_version_id,
        label="ants",
        confidence=0.7,
        predictions=[{"label": "ants", "confidence": 0.7}, {"label": "bees", "confidence": 0.3}],
        uncertain=False,
        latency_ms=4.2,
        created_at=timezone.now(),
        source="api",
        image=image,
    )


@pytest.mark.django_db(transaction=True)
def test_background_writer_writes_off_the_request_thread(settings, deployment):
    settings.PREDICTION_LOG_BACKGROUND = True
    settings.PREDICTION_LOG_INTERVAL = 0.01
    writer = PredictionLogWriter()
    entries = [_entry(deployment) for _ in range(5)]
    writer.submit(entries)
    deadline = time.monotonic() + 10
    while PredictionLog.objects.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert set(PredictionLog.objects.values_list("uid", flat=True)) == {e.uid for e in entries}
    assert writer._thread is not None and writer._thread.name == "prediction-log-writer"
    writer.shutdown()


@pytest.mark.django_db(transaction=True)
def test_shutdown_writes_what_is_queued(settings, deployment):
    settings.PREDICTION_LOG_BACKGROUND = True
    settings.PREDICTION_LOG_INTERVAL = 5.0  # the thread would wait; shutdown must not
    writer = PredictionLogWriter()
    writer.submit([_entry(deployment, image=None) for _ in range(3)])
    started = time.monotonic()
    writer.shutdown()
    assert PredictionLog.objects.count() == 3
    assert writer.pending() == 0
    assert time.monotonic() - started < 8


@pytest.mark.django_db(transaction=True)
def test_entries_of_a_deleted_deployment_are_dropped_not_fatal(
    settings, deployment, project, version
):
    from apps.deployments.services import deployment_create

    keeper = deployment_create(project=project, model_version_id=version.pk)
    writer = PredictionLogWriter()
    doomed = _entry(deployment)
    kept = _entry(keeper)
    deployment.delete()
    writer.write([doomed, kept])
    assert list(PredictionLog.objects.values_list("uid", flat=True)) == [kept.uid]


@pytest.mark.django_db
def test_queue_is_bounded(settings, deployment):
    settings.PREDICTION_LOG_BACKGROUND = True
    settings.PREDICTION_LOG_MAX_QUEUE = 2
    settings.PREDICTION_LOG_INTERVAL = 60
    writer = PredictionLogWriter()
    writer._ensure_thread = lambda: None  # no thread: nothing drains the queue
    writer.submit([_entry(deployment, image=None) for _ in range(5)])
    assert writer.pending() == 2
    assert writer.dropped == 3


def test_occupancy_sees_other_processes_running_a_model(tmp_path):
    import multiprocessing

    from apps.deployments.occupancy import Occupancy

    path = tmp_path / "occupancy"
    here = Occupancy(path)
    assert not here.others_running()
    started, release = multiprocessing.Event(), multiprocessing.Event()

    def other_process():
        there = Occupancy(path)
        with there.running():
            started.set()
            release.wait(10)

    child = multiprocessing.get_context("fork").Process(target=other_process)
    child.start()
    try:
        assert started.wait(10)
        assert here.others_running()
        with here.running():  # our own run is not "another process"
            assert here.others_running()
    finally:
        release.set()
        child.join(10)
    assert not here.others_running()
    with here.running():
        assert not here.others_running()


def test_runner_uses_one_core_while_other_predictions_are_served():
    class Busy:
        def __init__(self):
            self.busy_now = False

        def busy(self):
            return self.busy_now

    full, lean = _SlowPredictor(delay=0), _SlowPredictor(delay=0)
    occupancy = Busy()
    runner = ModelRunner(full, version_id=1, lean_predictor=lean, occupancy=occupancy, lanes=2)
    batch = np.zeros((1, 3, 2, 2), dtype=np.float32)
    runner.predict_arrays(batch)
    occupancy.busy_now = True
    runner.predict_arrays(batch)
    assert (full.batch_sizes, lean.batch_sizes) == ([1], [1])


def test_runner_runs_concurrent_requests_in_parallel_lanes_on_one_core_each():
    full, lean = _SlowPredictor(delay=0.02), _SlowPredictor(delay=0.02)
    runner = ModelRunner(full, version_id=1, max_batch=32, lean_predictor=lean, lanes=2)
    values = [i / 100 for i in range(40)]
    answers = _predict_concurrently(runner, values)
    assert answers == pytest.approx(values)  # every answer went to its own request
    assert sum(full.batch_sizes) + sum(lean.batch_sizes) == 40  # each ran exactly once
    # Two calls at once at most, never the multi-threaded predictor twice at once, and the
    # calls that overlapped another one ran on the one-thread predictor.
    assert full.max_running == 1
    assert lean.max_running <= 2
    assert lean.batch_sizes
    assert max(full.batch_sizes + lean.batch_sizes) > 1  # queued requests shared a call
    assert runner._running == 0 and not runner._pending  # nothing left behind


def test_occupancy_counts_this_process_requests_as_busy_beyond_the_first(tmp_path):
    from apps.deployments.occupancy import Occupancy

    here = Occupancy(tmp_path / "occupancy")
    assert not here.busy()
    with here.running():
        assert not here.busy()  # only the request asking
        with here.running():
            assert here.busy()
    assert not here.busy()
