"""Limits on log-in and sign-up attempts, shared by every web process through the cache
(Redis on both stacks: the embedded server or REDIS_URL).

Failed log-ins (session log-in and the token endpoint together) are counted per user name
and per client address; sign-ups per client address. Each count lives in a window that
opens at the first attempt and lasts the rate's period; once a count reaches the limit, the
endpoint answers 429 with Retry-After until that window closes. Counting only failures
means a person who types the password right is never held up by their own successes, and
the per-user-name count applies to unknown names exactly as to known ones (no enumeration).

Counters are two cache keys added together (``add`` never overwrites, ``incr`` is atomic
on Redis), not DRF's per-request history list: that list is rewritten on every request
and races under concurrent attempts, so it under-counts exactly the bursts it should stop.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_RATE = re.compile(
    r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$", re.IGNORECASE
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    seconds: int


def rate_parse(value: str) -> Rate:
    """``"10/15min"`` -> 10 per 900 s; ``"20/hour"`` -> 20 per 3600 s."""
    match = _RATE.match(value or "")
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"A rate looks like 10/15min (a count per period), not {value!r}.")
    count = int(match.group(2) or 1)
    return Rate(int(match.group(1)), count * _UNIT_SECONDS[match.group(3)[0].lower()])


def _rate(name: str) -> Rate:
    return rate_parse(settings.AUTH_THROTTLE_RATES[name])


class AttemptCounter:
    """Attempts by one identity (a user name, an address) under one rate."""

    def __init__(self, name: str, ident: str) -> None:
        self.rate = _rate(name)
        digest = hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        self.key = f"auth-throttle:{name}:{digest}"

    def wait(self, now: float | None = None) -> float | None:
        """Seconds until attempts are accepted again; None while under the limit."""
        try:
            values = cache.get_many([self.key, f"{self.key}:start"])
        except Exception:  # noqa: BLE001 - a cache outage must not lock everybody out
            logger.warning("auth throttle: cache unavailable", exc_info=True)
            return None
        if values.get(self.key, 0) < self.rate.limit:
            return None
        now = time.time() if now is None else now
        started = values.get(f"{self.key}:start", now)
        return max(1.0, started + self.rate.seconds - now)

    def add(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        try:
            # The start goes first: a window never has a count without its start time.
            cache.add(f"{self.key}:start", now, timeout=self.rate.seconds)
            cache.add(self.key, 0, timeout=self.rate.seconds)
            cache.incr(self.key)
        except ValueError:  # expired between add and incr: this attempt opens a new window
            cache.set(self.key, 1, timeout=self.rate.seconds)
        except Exception:  # noqa: BLE001
            logger.warning("auth throttle: cache unavailable", exc_info=True)

    def clear(self) -> None:
        try:
            cache.delete_many([self.key, f"{self.key}:start"])
        except Exception:  # noqa: BLE001
            logger.warning("auth throttle: cache unavailable", exc_info=True)


def client_address(request: Request) -> str:
    """The client's address: the TCP peer, or the address a trusted proxy reports
    (BAKEHOUSE_TRUSTED_PROXIES, applied by apps.core.middleware.TrustedProxyMiddleware)."""
    return BaseThrottle().get_ident(request) or "unknown"


def _username(request: Request) -> str:
    data: Any = request.data
    value = data.get("username") if hasattr(data, "get") else None
    return str(value).strip().casefold() if value else ""


def login_counters(request: Request) -> tuple[AttemptCounter, AttemptCounter | None]:
    """The failed-log-in counters of this request's address and user name (if any)."""
    address = AttemptCounter("login_failures_per_address", client_address(request))
    username = _username(request)
    named = AttemptCounter("login_failures_per_username", username) if username else None
    return address, named


def login_failure_record(request: Request) -> None:
    for counter in login_counters(request):
        if counter is not None:
            counter.add()


def login_success_record(request: Request) -> None:
    """The right password resets its user name's count (not the address's: one account
    that logs in now and then must not hide guessing at others from the same address)."""
    _, named = login_counters(request)
    if named is not None:
        named.clear()


class TooManyAttempts(exceptions.Throttled):
    default_code = "throttled"
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."

    def __init__(self, detail: str, wait: float) -> None:
        minutes = math.ceil(wait / 60)
        if wait >= 90:
            self.extra_detail_plural = f"Try again in {minutes} minutes."
        super().__init__(wait=wait, detail=detail)


class _AttemptThrottle(BaseThrottle):
    """A DRF throttle over attempt counters (the view records the attempts it counts).

    Over a limit it raises the 429 itself, so the answer names the limit that was hit (DRF's
    ``APIView.throttled`` only learns the wait)."""

    def counters(self, request: Request) -> list[tuple[AttemptCounter, str]]:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        for counter, message in self.counters(request):
            wait = counter.wait()
            if wait is not None:
                raise TooManyAttempts(message, wait)
        return True


class LoginThrottle(_AttemptThrottle):
    """Failed log-ins per user name, then per address (see ``login_failure_record``)."""

    def counters(self, request: Request) -> list[tuple[AttemptCounter, str]]:
        address, named = login_counters(request)
        found = [(address, "Too many failed log-in attempts from your address.")]
        if named is not None:
            found.insert(0, (named, "Too many failed log-in attempts for this user name."))
        return found


class SignupThrottle(_AttemptThrottle):
    """Sign-up attempts per address; every attempt counts, taken or not."""

    def counters(self, request: Request) -> list[tuple[AttemptCounter, str]]:
        counter = AttemptCounter("signups_per_address", client_address(request))
        return [(counter, "Too many sign-ups from your address.")]

    def allow_request(self, request: Request, view: Any) -> bool:
        super().allow_request(request, view)
        self.counters(request)[0][0].add()
        return True
