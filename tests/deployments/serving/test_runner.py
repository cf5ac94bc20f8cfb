"""ModelRunner: batching concurrent requests, lanes, one core per call under load."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from apps.deployments.serving import ModelRunner


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
