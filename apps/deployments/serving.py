"""The per-process serving state behind the prediction API.

Each web worker process keeps, in memory:

- the deployments it has answered for (slug -> an immutable ``LiveDeployment`` snapshot),
- the API keys it has checked (a hash of the full key -> its deployment), and
- the model versions it has loaded (one ONNX Runtime session each, behind a ``ModelRunner``).

Everything a request needs is then found without a database query. The in-memory copies are
dropped as soon as anything about deployments or keys changes: every change (a switch, a
setting, a deletion, a key revoked) writes a fresh random *generation* token to the shared
cache, and each request reads that token and compares it with the one its process last saw
(in the same cache round trip as its rate-limit count; see ``authentication``). A token
rather than a counter: a cache that restarts empty can never bring an old value back.

Each model version is loaded twice when ``SERVING_THREADS`` > 1: with that many intra-op
threads, for a request that has the machine to itself, and with one, for calls while other
predictions are being served, in this process or another (``occupancy``): one request
alone gets every core, concurrent requests get one core each and do not fight over them.

A request takes one ``LiveDeployment`` snapshot and uses that snapshot's model version from
start to end, and a ``ModelRunner`` is put in the registry only once its session is fully
loaded; so a switch is atomic for every request: it is answered wholly by the old version or
wholly by the new one.

Models are loaded at process start (``warm_up``, from gunicorn's ``post_fork`` hook) and by the
process that handles a switch, before the switch is committed; another process loads the new
version the first time a request for it arrives (once), under a per-version lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings

from apps.deployments.occupancy import occupancy
from apps.deployments.shared import store

logger = logging.getLogger(__name__)

GENERATION_KEY = "deployments:generation"
# In-memory copies are also dropped after this long, whatever the generation says (a cache
# that is down or was flushed must not keep a revoked key alive for ever).
LOCAL_TTL_SECONDS = 30.0
_UNREAD: Any = object()


@dataclass(frozen=True, slots=True)
class LiveDeployment:
    """What serving needs to know about a deployment, frozen at one moment."""

    id: int
    slug: str
    project_id: int
    owner_id: int
    model_version_id: int
    model_version_number: int
    backbone: str
    labels: tuple[str, ...]
    onnx_name: str
    threshold: float
    store_images: bool
    rate_limit: str


def _live_from_row(deployment: Any) -> LiveDeployment:
    version = deployment.model_version
    return LiveDeployment(
        id=deployment.id,
        slug=deployment.slug,
        project_id=deployment.project_id,
        owner_id=deployment.project.owner_id,
        model_version_id=version.id,
        model_version_number=version.number,
        backbone=version.backbone,
        labels=tuple(version.labels),
        onnx_name=version.onnx_file.name,
        threshold=deployment.threshold,
        store_images=deployment.store_images,
        rate_limit=deployment.rate_limit,
    )


_last_warning = 0.0


def warn_now_and_then(message: str) -> None:
    """Log a cache outage once a minute, not on every request."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 60:
        _last_warning = now
        logger.warning(message, exc_info=True)


# --- Model runners -------------------------------------------------------------------------


class _Job:
    __slots__ = ("batch", "result", "error", "taken", "done")

    def __init__(self, batch: np.ndarray) -> None:
        self.batch = batch
        self.result: np.ndarray | None = None
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
    ) -> None:
        self.predictor = predictor
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
        job = _Job(batch)
        with self._cond:
            self._pending.append(job)
            while not job.done and (job.taken or self._running >= self.lanes):
                self._cond.wait()
            if job.done:
                return self._result(job)
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
        return self._result(job)

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
            if len(jobs) == 1:
                jobs[0].result = predictor.predict_arrays(jobs[0].batch)
                return
            merged = np.concatenate([taken.batch for taken in jobs])
            probabilities = predictor.predict_arrays(merged)
            start = 0
            for taken in jobs:
                end = start + len(taken.batch)
                taken.result = probabilities[start:end]
                start = end
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
            for taken in jobs:
                taken.error = exc

    @staticmethod
    def _result(job: _Job) -> np.ndarray:
        if job.error is not None:
            raise job.error
        assert job.result is not None
        return job.result


def _load_predictors(*, onnx_name: str, labels: tuple[str, ...], backbone: str) -> tuple[Any, Any]:
    """``apps.ml.Predictor``s on the version's ONNX graph: one with ``SERVING_THREADS``
    intra-op threads, spinning, for a request alone on the machine, and, when that is more
    than one, a lean one-thread copy for calls beside others (see ``ModelRunner._pick``)."""
    from django.core.files.storage import default_storage

    from apps.ml import Predictor

    threads = max(1, int(settings.SERVING_THREADS))
    try:
        source: Any = str(default_storage.path(onnx_name))
    except NotImplementedError:  # object storage: read the bytes
        with default_storage.open(onnx_name, "rb") as handle:
            source = handle.read()
    full = Predictor.load(source, labels=labels, backbone=backbone, threads=threads, spinning=True)
    if threads == 1:
        return full, None
    return full, Predictor.load(source, labels=labels, backbone=backbone, threads=1)


# --- The registry ---------------------------------------------------------------------------


class ServingRegistry:
    """This process's deployments, key checks and loaded models (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: Any = object()  # never equal to what the cache holds
        self._checked_at = 0.0
        self._deployments: dict[str, LiveDeployment] = {}
        self._keys: dict[bytes, tuple[int, str, float | None]] = {}
        self._runners: OrderedDict[int, ModelRunner] = OrderedDict()
        self._load_locks: dict[int, threading.Lock] = {}

    # generation ---------------------------------------------------------------------------
    def refresh(self, generation: Any = _UNREAD) -> None:
        """Forget deployments and key checks if anything changed since this process last
        looked (one cache read, unless the caller read the ``generation`` already)."""
        if generation is _UNREAD:
            try:
                generation = store().get(GENERATION_KEY)
            except Exception:  # noqa: BLE001 - cache down: serve from the database meanwhile
                warn_now_and_then("could not read the deployments generation from the cache")
                generation = object()
        now = time.monotonic()
        if generation != self._generation or now - self._checked_at > LOCAL_TTL_SECONDS:
            with self._lock:
                self._deployments = {}
                self._keys = {}
                self._generation = generation
                self._checked_at = now

    def is_current(self, generation: Any) -> bool:
        """Are this process's copies still good for ``generation`` (just read)?"""
        return (
            generation == self._generation
            and time.monotonic() - self._checked_at <= LOCAL_TTL_SECONDS
        )

    def cached_deployment(self, slug: str) -> LiveDeployment | None:
        """The in-memory snapshot only (no database), as of the last ``refresh``."""
        return self._deployments.get(slug)

    def cached_key_matches(self, live: LiveDeployment, key: str) -> bool:
        """``key_matches`` from memory only: False when the key was not checked yet."""
        cached = self._keys.get(hashlib.sha256(key.encode()).digest())
        if cached is None:
            return False
        deployment_id, _prefix, expires = cached
        return deployment_id == live.id and (expires is None or time.time() < expires)

    def forget(self) -> None:
        """Drop the in-memory deployments and key checks of this process now."""
        with self._lock:
            self._deployments = {}
            self._keys = {}
            self._generation = object()

    # deployments --------------------------------------------------------------------------
    def deployment(self, slug: str) -> LiveDeployment | None:
        snapshots = self._deployments  # the dict of this generation (see ``refresh``)
        live = snapshots.get(slug)
        if live is not None:
            return live
        from apps.deployments.models import Deployment

        row = (
            Deployment.objects.select_related("model_version", "project")
            .only(
                "id",
                "slug",
                "project_id",
                "project__owner_id",
                "threshold",
                "store_images",
                "rate_limit",
                "model_version__id",
                "model_version__number",
                "model_version__backbone",
                "model_version__labels",
                "model_version__onnx_file",
            )
            .filter(slug=slug)
            .first()
        )
        if row is None:
            return None
        live = _live_from_row(row)
        # Into the dict that was current before the query: if a change arrived meanwhile,
        # that dict is already discarded and the stale row with it.
        snapshots[slug] = live
        return live

    # API keys -----------------------------------------------------------------------------
    def key_matches(self, live: LiveDeployment, key: str) -> bool:
        """Is ``key`` a valid, unrevoked, unexpired key of this deployment?"""
        checked = self._keys
        digest = hashlib.sha256(key.encode()).digest()
        cached = checked.get(digest)
        if cached is None:
            cached = self._key_lookup(key)
            if cached is None:
                return False
            checked[digest] = cached
        deployment_id, _prefix, expires = cached
        if expires is not None and time.time() >= expires:
            return False
        return deployment_id == live.id

    def key_prefix(self, key: str) -> str:
        cached = self._keys.get(hashlib.sha256(key.encode()).digest())
        return cached[1] if cached else ""

    @staticmethod
    def _key_lookup(key: str) -> tuple[int, str, float | None] | None:
        from apps.deployments.models import DeploymentApiKey

        prefix, dot, secret = key.partition(".")
        if not dot or not prefix or not secret or len(key) > 200:
            return None
        row = (
            DeploymentApiKey.objects.filter(prefix=prefix, revoked=False)
            .values_list("hashed_key", "deployment_id", "expiry_date")
            .first()
        )
        if row is None:
            return None
        hashed_key, deployment_id, expiry_date = row
        # The library's own check (sha512 with a constant-time comparison).
        if not DeploymentApiKey.objects.key_generator.verify(key, hashed_key):
            return None
        return deployment_id, prefix, expiry_date.timestamp() if expiry_date else None

    # models -------------------------------------------------------------------------------
    def runner(self, live: LiveDeployment) -> ModelRunner:
        return self.runner_for(
            version_id=live.model_version_id,
            onnx_name=live.onnx_name,
            labels=live.labels,
            backbone=live.backbone,
        )

    def runner_for(
        self, *, version_id: int, onnx_name: str, labels: tuple[str, ...], backbone: str
    ) -> ModelRunner:
        runner = self._runners.get(version_id)
        if runner is not None:
            return runner
        with self._lock:
            load_lock = self._load_locks.setdefault(version_id, threading.Lock())
        with load_lock:
            runner = self._runners.get(version_id)
            if runner is not None:
                return runner
            started = time.perf_counter()
            predictor, lean = _load_predictors(
                onnx_name=onnx_name, labels=labels, backbone=backbone
            )
            runner = ModelRunner(
                predictor,
                version_id=version_id,
                max_batch=getattr(settings, "PREDICT_MAX_BATCH", 32),
                lean_predictor=lean,
                occupancy=occupancy() if lean is not None else None,
                lanes=int(settings.SERVING_THREADS),
            )
            # Published only now, fully loaded: no request ever sees half a model.
            with self._lock:
                self._runners[version_id] = runner
                limit = max(1, getattr(settings, "SERVING_MAX_LOADED_MODELS", 8))
                while len(self._runners) > limit:
                    evicted, _ = self._runners.popitem(last=False)
                    self._load_locks.pop(evicted, None)
            logger.info(
                "loaded model version %s in %.0f ms",
                version_id,
                (time.perf_counter() - started) * 1e3,
            )
            return runner

    def loaded_versions(self) -> list[int]:
        return list(self._runners)

    def unload_all(self) -> None:
        with self._lock:
            self._runners.clear()
            self._load_locks.clear()


registry = ServingRegistry()


def generation_bump() -> None:
    """Tell every process that deployments or keys changed (call after the commit)."""
    registry.forget()
    try:
        store().set(GENERATION_KEY, uuid.uuid4().hex)
    except Exception:  # noqa: BLE001 - the local TTL still bounds how stale others get
        logger.exception("could not publish a deployments change to the cache")


def warm_up(*, limit: int | None = None) -> list[int]:
    """Load the models of the most recently changed deployments into this process.

    Called once per web worker at start (gunicorn ``post_fork``), so steady-state requests
    never load a model. Returns the model version ids loaded. Never raises: a process that
    cannot warm up still serves (it loads on first use instead).
    """
    from django.db import connections

    from apps.deployments.models import Deployment

    limit = limit if limit is not None else getattr(settings, "SERVING_WARM_UP_LIMIT", 8)
    loaded: list[int] = []
    try:
        rows = (
            Deployment.objects.select_related("model_version", "project")
            .order_by("-updated_at")
            .only(
                "id",
                "slug",
                "project_id",
                "project__owner_id",
                "threshold",
                "store_images",
                "rate_limit",
                "model_version__id",
                "model_version__number",
                "model_version__backbone",
                "model_version__labels",
                "model_version__onnx_file",
            )[: limit * 4]
        )
        for row in rows:
            if len(loaded) >= limit:
                break
            live = _live_from_row(row)
            if live.model_version_id in loaded:
                continue
            try:
                runner = registry.runner(live)
                # One forward pass: ONNX Runtime allocates its buffers on the first run.
                size = _input_size(live.backbone)
                runner.predict_arrays(np.zeros((1, 3, size, size), dtype=np.float32))
                loaded.append(live.model_version_id)
            except Exception:  # noqa: BLE001 - one broken model must not stop the others
                logger.exception("could not warm up deployment %s", live.slug)
    except Exception:  # noqa: BLE001 - e.g. the database is not migrated yet
        logger.exception("could not list deployments to warm up")
    finally:
        # This runs in the worker's main thread; requests use their own connections.
        connections.close_all()
    return loaded


def _input_size(backbone: str) -> int:
    from apps.ml.backbones import get_backbone

    return get_backbone(backbone).input_size


def preload_modules() -> None:
    """Import what serving uses, so that no request pays for it.

    For a web worker right after it is forked (gunicorn ``post_fork``), never for the master:
    ONNX Runtime imported before a fork makes the forked workers abort when they exit.
    """
    import onnxruntime  # noqa: F401
    from django.urls import get_resolver

    import apps.ml  # noqa: F401
    import apps.ml.images  # noqa: F401

    get_resolver().url_patterns  # noqa: B018 - imports every app's views
