"""What a web worker does when it starts: import the serving stack and load the models.

Models are loaded at process start (``warm_up``, from gunicorn's ``post_fork`` hook) and by the
process that handles a switch, before the switch is committed; another process loads the new
version the first time a request for it arrives (once), under a per-version lock.
"""

from __future__ import annotations

import logging

import numpy as np
from django.conf import settings

from apps.deployments.serving import loading
from apps.deployments.serving.registry import LIVE_FIELDS, live_from_row, registry

logger = logging.getLogger(__name__)


def warm_up(*, limit: int | None = None) -> list[int]:
    """Load the models of the most recently changed deployments into this process.

    Called once per web worker at start (gunicorn ``post_fork``), so steady-state requests
    never load a model. Returns the model version ids loaded. Never raises: a process that
    cannot warm up still serves (it loads on first use instead).
    """
    from django.db import connections

    from apps.deployments.models import Deployment

    limit = limit if limit is not None else int(settings.SERVING_WARM_UP_LIMIT)
    loaded: list[int] = []
    try:
        rows = (
            Deployment.objects.select_related("model_version", "project", "candidate_version")
            .order_by("-updated_at")
            .only(*LIVE_FIELDS)[: limit * 4]
        )
        for row in rows:
            if len(loaded) >= limit:
                break
            live = live_from_row(row)
            if live.model_version_id in loaded:
                continue
            try:
                runner = registry.runner(live)
                # One forward pass: ONNX Runtime allocates its buffers on the first run.
                size = loading.input_size(live.backbone)
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


def preload_modules() -> None:
    """Import what serving uses, so that no request pays for it.

    For a web worker right after it is forked (gunicorn ``post_fork``), never for the master:
    ONNX Runtime imported before a fork makes the forked workers abort when they exit.
    """
    import onnxruntime  # noqa: F401
    from django.urls import get_resolver

    from apps import ml

    ml.open_image  # noqa: B018 - imports the image decoding (Pillow, its plugins)
    ml.preprocess_batch  # noqa: B018

    get_resolver().url_patterns  # noqa: B018 - imports every app's views
