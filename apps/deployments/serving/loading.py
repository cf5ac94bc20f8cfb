"""Loading a model version's ONNX graph for serving."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps import ml


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


def input_size(backbone: str) -> int:
    """The side of the square picture the backbone takes."""
    return ml.get_backbone(backbone).input_size


def resize_size(backbone: str) -> int:
    """The shorter side a picture is resized to before the centre crop."""
    return ml.get_backbone(backbone).resize_size
