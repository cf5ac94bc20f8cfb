"""Failed prediction requests, counted per deployment and minute (the monitoring page's
error rate): the prediction log holds only answered predictions.

A request that got past its API key (or the signed-in owner's check) and then failed (an
image that cannot be read, a body too large, an unsupported type, a server error) adds one
to two counters in the shared cache: one per minute (kept two days) and one per hour (kept
32 days), so any window of the monitoring page reads at most a few hundred keys. Refusals
before that (a wrong key, an unknown deployment, the rate limit) are not the deployment's
errors and are not counted. Counting costs one cache round trip, on failed requests only;
a cache that is down loses the counts, never the answer.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.cache import cache

logger = logging.getLogger(__name__)

MINUTE_TTL = 2 * 24 * 3600
HOUR_TTL = 32 * 24 * 3600
# Answers that are refusals of the caller, not failures of the deployment.
NOT_COUNTED = frozenset({401, 403, 404, 405, 429})


def _key(slug: str, unit: str, bucket: int) -> str:
    return f"monitoring:errors:{unit}:{slug}:{bucket}"


def _incr(key: str, ttl: int) -> None:
    try:
        cache.incr(key)
    except ValueError:  # the bucket's first error
        if not cache.add(key, 1, timeout=ttl):
            cache.incr(key)


def prediction_error_count(*, slug: str, status_code: int, now: float) -> None:
    """Count one failed prediction request of ``slug`` (unless ``status_code`` is a
    refusal; ``now``: epoch seconds)."""
    if not slug or status_code in NOT_COUNTED:
        return
    try:
        _incr(_key(slug, "m", int(now // 60)), MINUTE_TTL)
        _incr(_key(slug, "h", int(now // 3600)), HOUR_TTL)
    except Exception:  # noqa: BLE001 - see the module docstring
        logger.warning("could not count a failed prediction of %s", slug, exc_info=True)


def prediction_errors(*, slug: str, since: datetime, until: datetime, unit: str) -> dict[int, int]:
    """Failed requests of ``slug`` per bucket start (epoch seconds) between ``since`` and
    ``until``; ``unit``: "m" (minutes) or "h" (hours)."""
    size = 60 if unit == "m" else 3600
    first, last = int(since.timestamp() // size), int(until.timestamp() // size)
    keys = {_key(slug, unit, bucket): bucket * size for bucket in range(first, last + 1)}
    try:
        found = cache.get_many(list(keys))
    except Exception:  # noqa: BLE001 - no counts rather than no page
        logger.warning("could not read the failed predictions of %s", slug, exc_info=True)
        return {}
    return {keys[key]: int(value) for key, value in found.items() if value}
