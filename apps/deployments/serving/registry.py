"""This process's serving registry: deployments, API key checks and loaded models.

Each web worker process keeps, in memory:

- the deployments it has answered for (slug -> an immutable ``LiveDeployment`` snapshot),
- the API keys it has checked (a hash of the full key -> its deployment), and
- the model versions it has loaded (one ``ModelRunner`` each), the least recently used
  dropped first past ``SERVING_MAX_LOADED_MODELS``.

Everything a request needs is then found without a database query. The in-memory copies are
dropped as soon as anything about deployments or keys changes: every change (a switch, a
setting, a deletion of a deployment or of its whole project, a key revoked) writes a fresh
random *generation* token to the shared cache, both before its transaction commits (a change
to or removal of what processes may have cached that cannot be published is refused, so
nothing is ever revoked in the database only) and after (so a process that re-read the old
rows in between drops them too); and each request
reads that token and compares it with the one its process last saw (in the same cache round
trip as its rate-limit count; see ``authentication``). A token rather than a counter: a
cache that restarts empty can never bring an old value back. While the cache is
unreachable, every request reads the database.

A request takes one ``LiveDeployment`` snapshot and uses that snapshot's model version from
start to end, and a ``ModelRunner`` is put in the registry only once its session is fully
loaded; so a switch is atomic for every request: it is answered wholly by the old version or
wholly by the new one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import random
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework import status

from apps.core.exceptions import ApplicationError
from apps.deployments.serving import loading
from apps.deployments.serving.occupancy import occupancy
from apps.deployments.serving.runner import ModelRunner
from apps.deployments.serving.store import store, warn_now_and_then

logger = logging.getLogger(__name__)

GENERATION_KEY = "deployments:generation"
# In-memory copies are also dropped after this long, whatever the generation says: the last
# resort if a change could not be published after its commit (the cache went down in
# between).
LOCAL_TTL_SECONDS = 30.0
_UNREAD: Any = object()

# The columns a ``LiveDeployment`` is made from.
LIVE_FIELDS = (
    "id",
    "slug",
    "project_id",
    "project__owner_id",
    "threshold",
    "store_images",
    "rate_limit",
    "precision",
    "model_version__id",
    "model_version__number",
    "model_version__backbone",
    "model_version__labels",
    "model_version__onnx_file",
    "model_version__ood_file",
    "model_version__int8_onnx_file",
    # A canary's version (``apps.deployments.canary``), served the same way.
    "candidate_percent",
    # "shadow": the candidate runs beside the live version (``apps.deployments.shadow_worker``).
    "candidate_mode",
    "candidate_version__id",
    "candidate_version__number",
    "candidate_version__backbone",
    "candidate_version__labels",
    "candidate_version__onnx_file",
    "candidate_version__ood_file",
    "candidate_version__int8_onnx_file",
)


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
    # The version's out-of-distribution reference ("" when it has none).
    ood_name: str = ""
    # Which graph ``onnx_name`` is: "fp32" (the version's ``onnx_file``) or "int8".
    precision: str = "fp32"
    # A canary: the same deployment answered by its candidate version, for
    # ``canary_percent`` % of the requests (``canary_route``).
    canary: LiveDeployment | None = None
    canary_percent: int = 0
    # A shadow candidate: answers nothing, runs on the same inputs off the request path.
    shadow: LiveDeployment | None = None


def canary_route(live: LiveDeployment, draw: float | None = None) -> LiveDeployment:
    """Which version answers this request: the canary for ``canary_percent`` % of the
    requests (``draw``, uniform in [0, 1), decides; a fresh random one by default), else
    the live one. A whole request is answered by one version."""
    if live.canary is None or live.canary_percent <= 0:
        return live
    draw = random.random() if draw is None else draw
    return live.canary if draw * 100.0 < live.canary_percent else live


def live_from_row(deployment: Any) -> LiveDeployment:
    live = _live_version(deployment, deployment.model_version)
    candidate = deployment.candidate_version if deployment.candidate_version_id else None
    if candidate is not None and deployment.candidate_mode == "shadow":
        return dataclasses.replace(live, shadow=_live_version(deployment, candidate))
    if candidate is None or not deployment.candidate_percent:
        return live
    return dataclasses.replace(
        live,
        canary=_live_version(deployment, candidate),
        canary_percent=int(deployment.candidate_percent),
    )


def _live_version(deployment: Any, version: Any) -> LiveDeployment:
    # The services refuse int8 for a version without the file; were it gone anyway, the
    # deployment answers in fp32 and says so, rather than failing every request.
    int8 = deployment.precision == "int8" and bool(version.int8_onnx_file.name)
    return LiveDeployment(
        id=deployment.id,
        slug=deployment.slug,
        project_id=deployment.project_id,
        owner_id=deployment.project.owner_id,
        model_version_id=version.id,
        model_version_number=version.number,
        backbone=version.backbone,
        labels=tuple(version.labels),
        onnx_name=version.int8_onnx_file.name if int8 else version.onnx_file.name,
        threshold=deployment.threshold,
        store_images=deployment.store_images,
        rate_limit=deployment.rate_limit,
        ood_name=version.ood_file.name or "",
        precision="int8" if int8 else "fp32",
    )


class ServingRegistry:
    """This process's deployments, key checks and loaded models (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation: Any = object()  # never equal to what the cache holds
        self._checked_at = 0.0
        self._deployments: dict[str, LiveDeployment] = {}
        self._keys: dict[bytes, tuple[int, str, float | None]] = {}
        # (model version, precision) -> its loaded graph
        self._runners: OrderedDict[tuple[int, str], ModelRunner] = OrderedDict()
        self._load_locks: dict[tuple[int, str], threading.Lock] = {}

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
            Deployment.objects.select_related("model_version", "project", "candidate_version")
            .only(*LIVE_FIELDS)
            .filter(slug=slug)
            .first()
        )
        if row is None:
            return None
        live = live_from_row(row)
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
            ood_name=live.ood_name,
            precision=live.precision,
        )

    def runner_for(
        self,
        *,
        version_id: int,
        onnx_name: str,
        labels: tuple[str, ...],
        backbone: str,
        ood_name: str = "",
        precision: str = "fp32",
    ) -> ModelRunner:
        """The loaded runner of ``version_id`` in ``precision`` ("fp32" or "int8": two
        graphs, two runners), loading ``onnx_name`` first when this process has none."""
        key = (version_id, precision)
        runner = self._runners.get(key)
        if runner is not None:
            # Least recently used goes first when too many are loaded. Evicted meanwhile by
            # another thread: this request still has its runner.
            with contextlib.suppress(KeyError):
                self._runners.move_to_end(key)
            return runner
        with self._lock:
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            runner = self._runners.get(key)
            if runner is not None:
                return runner
            started = time.perf_counter()
            predictor, lean = loading.load_predictors(
                onnx_name=onnx_name, labels=labels, backbone=backbone
            )
            runner = ModelRunner(
                predictor,
                version_id=version_id,
                max_batch=int(settings.PREDICT_MAX_BATCH),
                lean_predictor=lean,
                occupancy=occupancy() if lean is not None else None,
                lanes=int(settings.SERVING_THREADS),
                # Built once per loaded model (its threshold calibration costs a matrix
                # product over the reference), never per request.
                ood=loading.load_ood(ood_name)
                if getattr(predictor, "has_features", False)
                else None,
            )
            runner.drift = loading.load_drift(runner.ood)
            # Published only now, fully loaded: no request ever sees half a model.
            with self._lock:
                self._runners[key] = runner
                limit = max(1, int(settings.SERVING_MAX_LOADED_MODELS))
                while len(self._runners) > limit:
                    evicted, _ = self._runners.popitem(last=False)
                    self._load_locks.pop(evicted, None)
            logger.info(
                "loaded model version %s (%s) in %.0f ms",
                version_id,
                precision,
                (time.perf_counter() - started) * 1e3,
            )
            return runner

    def loaded_versions(self) -> list[int]:
        """The model versions loaded in this process, least recently used first (a version
        loaded in both precisions appears twice)."""
        return [version_id for version_id, _precision in self._runners]

    def unload_all(self) -> None:
        with self._lock:
            self._runners.clear()
            self._load_locks.clear()


registry = ServingRegistry()


def generation_publish() -> None:
    """Tell every process, now, that deployments or keys are changing: inside the change's
    transaction, before its commit. Raises ``ApplicationError`` (503) when the shared cache
    cannot be written, so that the change is rolled back rather than half published."""
    registry.forget()
    try:
        store().set(GENERATION_KEY, uuid.uuid4().hex)
    except Exception as exc:  # noqa: BLE001 - any cache failure means "not published"
        logger.exception("could not publish a deployments change to the cache")
        raise ApplicationError(
            "The change could not be passed on to the prediction servers because the cache "
            "(Redis) is not reachable. Nothing was changed; please try again in a minute.",
            code="cache_unavailable",
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        ) from exc


def generation_bump() -> None:
    """Tell every process that deployments or keys changed (after the commit)."""
    registry.forget()
    try:
        store().set(GENERATION_KEY, uuid.uuid4().hex)
    except Exception:  # noqa: BLE001 - the local TTL still bounds how stale others get
        logger.exception("could not publish a deployments change to the cache")
