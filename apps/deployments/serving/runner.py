"""``ModelRunner``: one loaded model version, run in as many session calls at once as serving
may use cores, batching the requests that arrive while every lane is busy."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import numpy as np

from apps import ml


class _Job:
    __slots__ = ("batch", "result", "features", "error", "taken", "done")

    def __init__(self, batch: np.ndarray) -> None:
        self.batch = batch
        self.result: np.ndarray | None = None
        self.features: np.ndarray | None = None
        self.error: BaseException | None = None
        self.taken = False  # in a batch that another request leads
        self.done = False


class ModelRunner:
    """One loaded model version, run in up to ``lanes`` session calls at once.

    No thread of its own and no waiting: a request that finds a lane free runs at once;
    requests that arrive while every lane is busy queue up and go together, as one batch,
    in the next lane to come free. How many cores a call takes depends on what else runs:

    - alone (no other prediction being served, in this process or another web process):
      the full predictor, with every serving thread, so a lone request gets the machine;
    - otherwise: the lean one-thread predictor. On this network ONNX Runtime spends less
      CPU per image on one thread than on two (measured on 2 cores at batch 1: 6.0 ms
      against 7.0 ms), and batching does not lower it (6.5 ms per image at batch 4), so
      under load the cores are best used by one single-threaded call each
      (``bench/bench_predict.py``: ``ort_cpu_ms_per_image_*``).

    ``lanes`` is the number of cores serving may use (``SERVING_THREADS``); with one lane
    (or no lean predictor) calls run one at a time, batched. A request marks itself as
    being served with ``serving()`` for as long as it decodes, waits and runs.
    """

    def __init__(
        self,
        predictor: Any,
        *,
        version_id: int,
        max_batch: int = 32,
        lean_predictor: Any = None,
        occupancy: Any = None,
        lanes: int = 1,
        ood: Any = None,
        drift: Any = None,
    ) -> None:
        self.predictor = predictor
        # An ``ml.OutlierScorer`` on the version's training embeddings (None: the version
        # has no reference, or its graph no "features" output).
        self.ood = ood
        # An ``ml.DriftProjection`` fitted on the same reference (None without one): each
        # prediction's embedding becomes a small sketch for drift monitoring.
        self.drift = drift
        # The same model on one core, for a call that runs beside another.
        self.lean_predictor = lean_predictor
        self.occupancy = occupancy
        self.version_id = version_id
        self.max_batch = max_batch
        self.lanes = max(1, lanes) if lean_predictor is not None else 1
        self._cond = threading.Condition()
        self._pending: list[_Job] = []
        self._running = 0

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.predictor.labels)

    def serving(self) -> contextlib.AbstractContextManager[Any]:
        """Count a prediction as being served for the duration of the block."""
        return self.occupancy.running() if self.occupancy else contextlib.nullcontext()

    def predict_arrays(self, batch: np.ndarray) -> np.ndarray:
        """Preprocessed float32 [N, 3, H, W] -> probabilities [N, C]."""
        return self.predict_arrays_with_features(batch)[0]

    def predict_arrays_with_features(
        self, batch: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(probabilities [N, C], embeddings [N, D] or None when the graph has none)."""
        job = _Job(batch)
        with self._cond:
            self._pending.append(job)
            while not job.done and (job.taken or self._running >= self.lanes):
                self._cond.wait()
            if job.done:
                return self._result(job), job.features
            # A lane is free and our job still waiting: lead the next batch, our job
            # first, then the oldest waiting ones as long as they fit.
            alone = self._running == 0
            self._running += 1
            self._pending.remove(job)
            jobs, size = [job], len(job.batch)
            while self._pending and size + len(self._pending[0].batch) <= self.max_batch:
                taken = self._pending.pop(0)
                taken.taken = True
                jobs.append(taken)
                size += len(taken.batch)
        try:
            self._run(jobs, alone=alone)
        finally:
            with self._cond:
                self._running -= 1
                for taken in jobs:
                    taken.done = True
                self._cond.notify_all()
        return self._result(job), job.features

    def _pick(self, *, alone: bool) -> Any:
        """Every serving thread for a request alone on the machine, one core otherwise: two
        calls with two threads each on two cores spend their time waiting for each other."""
        if self.lean_predictor is None:
            return self.predictor
        if not alone or (self.occupancy is not None and self.occupancy.busy()):
            return self.lean_predictor
        return self.predictor

    def _run(self, jobs: list[_Job], *, alone: bool) -> None:
        try:
            predictor = self._pick(alone=alone)
            both = getattr(predictor, "predict_arrays_with_features", None)
            if len(jobs) == 1:
                if both is None:
                    jobs[0].result = predictor.predict_arrays(jobs[0].batch)
                else:
                    jobs[0].result, jobs[0].features = both(jobs[0].batch)
                return
            merged = np.concatenate([taken.batch for taken in jobs])
            if both is None:
                probabilities, features = predictor.predict_arrays(merged), None
            else:
                probabilities, features = both(merged)
            start = 0
            for taken in jobs:
                end = start + len(taken.batch)
                taken.result = probabilities[start:end]
                taken.features = features[start:end] if features is not None else None
                start = end
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
            for taken in jobs:
                taken.error = exc

    def sketches(self, features: np.ndarray | None, count: int) -> list[bytes | None]:
        """Each image's drift sketch as float16 bytes (one small matrix product on the
        embeddings already computed), or None for every image without a projection."""
        if self.drift is None or features is None:
            return [None] * count
        return [ml.sketch_to_bytes(row) for row in self.drift.project(features)]

    @staticmethod
    def _result(job: _Job) -> np.ndarray:
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result
