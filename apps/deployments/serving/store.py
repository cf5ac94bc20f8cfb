"""The two numbers all web processes share for serving: the deployments *generation* token
and the rate-limit counters.

They live in the cache (Redis). On the prediction path they are read with one long-lived
redis-py client per process: Django's Redis cache builds a new client object for every
call and checks that a key exists before each increment, which cost several times more
than the round trips themselves. Any other cache backend (the unit tests' local memory
cache) goes through Django's cache API.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"

_last_warning = 0.0


def warn_now_and_then(message: str) -> None:
    """Log a cache outage once a minute, not on every request."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 60:
        _last_warning = now
        logger.warning(message, exc_info=True)


class _DjangoCacheStore:
    def get(self, key: str) -> Any:
        return cache.get(key)

    def set(self, key: str, value: str) -> None:
        cache.set(key, value, timeout=None)

    def incr(self, key: str, *, ttl: int) -> int:
        try:
            return cache.incr(key)
        except ValueError:  # the first request of a window
            if cache.add(key, 1, timeout=ttl):
                return 1
            return cache.incr(key)

    def get_and_incr(self, key: str, counter: str, *, ttl: int) -> tuple[Any, int]:
        return self.get(key), self.incr(counter, ttl=ttl)


class _RedisStore:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        # redis-py's pool notices a fork and opens fresh connections in the child.
        self._client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = f"{prefix}:serving:" if prefix else "serving:"

    def get(self, key: str) -> Any:
        value = self._client.get(self._prefix + key)
        return value.decode() if isinstance(value, bytes) else value

    def set(self, key: str, value: str) -> None:
        self._client.set(self._prefix + key, value)

    def incr(self, key: str, *, ttl: int) -> int:
        name = self._prefix + key
        count = int(self._client.incr(name))
        if count == 1:
            # The window's first request sets its lifetime. The window is also in the key,
            # so a counter that somehow kept no lifetime only ever counts its own window.
            self._client.expire(name, ttl)
        return count

    def get_and_incr(self, key: str, counter: str, *, ttl: int) -> tuple[Any, int]:
        """``get(key)`` and ``incr(counter)`` in one round trip."""
        name = self._prefix + counter
        pipe = self._client.pipeline(transaction=False)
        pipe.get(self._prefix + key)
        pipe.incr(name)
        value, count = pipe.execute()
        if int(count) == 1:
            self._client.expire(name, ttl)
        return (value.decode() if isinstance(value, bytes) else value), int(count)


_store: Any = None
_store_config: tuple[str, str] | None = None
_lock = threading.Lock()


def store() -> Any:
    """This process's store (rebuilt when the cache settings change, as in tests)."""
    global _store, _store_config
    default = settings.CACHES.get("default", {})
    location = default.get("LOCATION", "")
    if isinstance(location, list | tuple):  # several servers: writes go to the first
        location = location[0] if location else ""
    config = (str(default.get("BACKEND", "")), str(location))
    if _store is None or config != _store_config:
        with _lock:
            if _store is None or config != _store_config:
                if config[0] == _REDIS_BACKEND and config[1]:
                    _store = _RedisStore(config[1], str(default.get("KEY_PREFIX", "")))
                else:
                    _store = _DjangoCacheStore()
                _store_config = config
    return _store
