"""Loading a model version's ONNX graph for serving."""

from __future__ import annotations

import functools
import logging
from typing import Any

from django.conf import settings

from apps import ml
from apps.training.health.reference import ood_reference_load

logger = logging.getLogger(__name__)


def load_predictors(*, onnx_name: str, labels: tuple[str, ...], backbone: str) -> tuple[Any, Any]:
    """``apps.ml.Predictor``s on the version's ONNX graph: one with ``SERVING_THREADS``
    intra-op threads, spinning, for a request alone on the machine, and, when that is more
    than one, a lean one-thread copy for calls beside others (see ``ModelRunner._pick``)."""
    from django.core.files.storage import default_storage

    threads = max(1, int(settings.SERVING_THREADS))
    try:
        source: Any = str(default_storage.path(onnx_name))
    except NotImplementedError:  # object storage: read the bytes
        with default_storage.open(onnx_name, "rb") as handle:
            source = handle.read()
    full = ml.Predictor.load(
        source, labels=labels, backbone=backbone, threads=threads, spinning=True
    )
    if threads == 1:
        return full, None
    return full, ml.Predictor.load(source, labels=labels, backbone=backbone, threads=1)


@functools.cache
def _blas_on_one_thread() -> None:
    """numpy's BLAS (OpenBLAS) on one thread in a serving process, once. Scoring one
    request's embedding is a small matrix product; OpenBLAS would spread it over every core
    and leave its threads spinning after it, which cost ONNX Runtime's next call about 10 ms
    of CPU per request on 2 cores (measured: 0.3 ms added per request on one thread)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def load_ood(ood_name: str) -> Any:
    """An ``ml.OutlierScorer`` on the version's stored training embeddings, or None when it
    has none (older and fine-tuned versions) or the file cannot be read: the model still
    serves, its answers just carry no out-of-distribution score."""
    from django.core.files.storage import default_storage

    if not ood_name:
        return None
    _blas_on_one_thread()
    try:
        with default_storage.open(ood_name, "rb") as handle:
            return ml.OutlierScorer(ood_reference_load(handle.read()))
    except Exception:  # noqa: BLE001 - a damaged reference must not stop the model serving
        logger.exception("could not load the out-of-distribution reference %s", ood_name)
        return None


def load_drift(ood: Any) -> Any:
    """An ``ml.DriftProjection`` fitted on the reference of ``ood`` (an
    ``ml.OutlierScorer``), or None without one. apps.monitoring fits the same projection
    on the same stored file, so the sketches logged here and its reference agree."""
    if ood is None:
        return None
    try:
        return ml.fit_drift_projection(ood.reference)
    except Exception:  # noqa: BLE001 - drift monitoring must not stop the model serving
        logger.exception("could not fit the drift projection")
        return None


def input_size(backbone: str) -> int:
    """The side of the square picture the backbone takes."""
    return ml.get_backbone(backbone).input_size


def resize_size(backbone: str) -> int:
    """The shorter side a picture is resized to before the centre crop."""
    return ml.get_backbone(backbone).resize_size
