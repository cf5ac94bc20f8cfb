"""The prediction API's rate limit: the deployment's own ``rate_limit``, shared by every web
process through the cache.

While the cache is unreachable the limit is not lifted: each process counts on its own
(``LocalCounters``), so a deployment gets at most its limit per process until the cache is
back.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from rest_framework.throttling import SimpleRateThrottle

from apps.deployments.serving.store import store, warn_now_and_then

logger = logging.getLogger(__name__)

RATE_PATTERN = re.compile(r"^\s*(\d{1,9})\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$")


def rate_limit_clean(value: str) -> str:
    """``"600/min"`` and the like, normalised; ``ValueError`` with a sentence otherwise."""
    match = RATE_PATTERN.match(str(value or "").lower())
    if not match or int(match.group(1)) < 1:
        raise ValueError(
            "The rate limit must look like 600/min: a number of requests per sec, min, hour or day."
        )
    unit = {"s": "sec", "second": "sec", "m": "min", "minute": "min", "h": "hour", "d": "day"}
    period = match.group(2)
    return f"{int(match.group(1))}/{unit.get(period, period)}"


@dataclass(frozen=True, slots=True)
class RateWindow:
    """The fixed window a request falls in, and its counter's cache key."""

    key: str
    limit: int
    duration: int
    ends_at: float


def rate_window(live: Any, now: float | None = None) -> RateWindow | None:
    """The current window of ``live``'s rate limit (None for an unreadable limit)."""
    try:
        limit, duration = DeploymentRateThrottle().parse_rate(live.rate_limit)
    except (ValueError, KeyError, AttributeError):
        return None
    if limit is None or duration is None:  # an empty rate: parse_rate answers (None, None)
        return None
    now = time.time() if now is None else now
    window = int(now // duration)
    return RateWindow(
        key=f"throttle:predict:{live.id}:{duration}:{window}",
        limit=limit,
        duration=duration,
        ends_at=(window + 1) * duration,
    )


class LocalCounters:
    """Fixed-window counters in this process's memory: the fallback while the cache is down."""

    # Counters of windows that ended are dropped once there are this many.
    PRUNE_AT = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def incr(self, window: RateWindow, now: float) -> int:
        with self._lock:
            if len(self._counts) >= self.PRUNE_AT:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            count = self._counts.get(window.key, (0, window.ends_at))[0] + 1
            self._counts[window.key] = (count, window.ends_at)
            return count

    def clear(self) -> None:
        with self._lock:
            self._counts = {}


local_counters = LocalCounters()


class DeploymentRateThrottle(SimpleRateThrottle):
    """At most the deployment's ``rate_limit`` requests per period, all API keys and all web
    processes together.

    A fixed-window counter (one atomic increment per request) rather than DRF's default
    sliding log, which rewrites a list of every request's time on each request: with limits
    in the hundreds per minute that list is most of the cost of a prediction. The trade-off
    is the usual one for fixed windows: a burst straddling two windows may see up to twice
    the rate for a moment. When the API key authentication already counted the request (it
    reads the counter in the same cache round trip as the deployments generation), that
    count is used.
    """

    scope = "prediction"

    def __init__(self) -> None:  # the rate comes from the deployment, not from settings
        self.wait_seconds: float | None = None

    def allow_request(self, request: Any, view: Any) -> bool:
        live = getattr(request.auth, "deployment", None)
        if live is None:
            return True
        now = time.time()
        window = rate_window(live, now)
        if window is None:
            logger.warning("deployment %s has an unreadable rate limit", live.slug)
            return True
        counted = getattr(request.auth, "counted", None)
        if counted is not None and counted[0] == window.key:
            count = counted[1]
        else:
            try:
                count = store().incr(window.key, ttl=window.duration + 1)
            except Exception:  # noqa: BLE001 - counted in this process instead
                warn_now_and_then("the shared rate limit counter is unavailable; counting locally")
                count = local_counters.incr(window, now)
        if count <= window.limit:
            return True
        self.wait_seconds = window.ends_at - now
        return False

    def wait(self) -> float | None:
        return self.wait_seconds
