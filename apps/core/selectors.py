"""Reads about the platform itself (health) and its stored files."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection

logger = logging.getLogger(__name__)

# A health result younger than this is answered as is; an older one starts a refresh.
HEALTH_FRESH_SECONDS = 5.0
# The longest a request waits for a refresh in flight before answering the last result.
HEALTH_WAIT_SECONDS = 0.1
# A database or broker check still running after this many seconds reports its part down.
HEALTH_HUNG_SECONDS = 10.0
# Which worker answered a ping when (wall-clock seconds), shared by the web processes, so
# that each counts the workers any of them heard from.
WORKERS_CACHE_KEY = "health:workers-seen"
# A worker busy enough to miss one ping's time-out still counts for this long after its last
# answer, so the count does not flicker on a loaded machine; a dead one drops out after it.
WORKERS_REMEMBER_SECONDS = 20.0


def database_status() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"
        logger.warning("health: database down: %s", exc)
        return f"down: {exc.__class__.__name__}"
    return "ok"


def broker_status(timeout: float = 1.0) -> str:
    from bakehouse.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        logger.warning("health: broker down: %s", exc)
        return f"down: {exc.__class__.__name__}"
    return "ok"


def workers_answering(timeout: float = 1.0) -> list[str]:
    """The names of the Celery workers that answered a ping within ``timeout`` seconds."""
    from bakehouse.celery import app

    try:
        replies = app.control.ping(timeout=timeout) or []
    except Exception:  # noqa: BLE001
        return []
    return [name for reply in replies for name in reply]


@dataclass(frozen=True, slots=True)
class _Checked:
    database: str
    broker: str
    at: float


class HealthMonitor:
    """The platform's health, checked by one background thread per process and cached.

    A request never does the checking: it reads the last result, and when that is older
    than ``fresh`` seconds it starts a refresh (unless one is running) and waits at most
    ``wait`` seconds for it. So any number of concurrent callers cost one database check,
    one broker check and one worker ping per ``fresh`` seconds, and none is held longer than
    ``wait`` even when the broker hangs. The worker ping (which always waits its whole
    time-out) runs after the database and broker results are published.
    """

    def __init__(
        self,
        *,
        database_check: Callable[[], str] = database_status,
        broker_check: Callable[[], str] = broker_status,
        workers_check: Callable[[], Iterable[str]] = workers_answering,
        fresh: float = HEALTH_FRESH_SECONDS,
        wait: float = HEALTH_WAIT_SECONDS,
        hung: float = HEALTH_HUNG_SECONDS,
        remember: float = WORKERS_REMEMBER_SECONDS,
    ) -> None:
        self.pid = os.getpid()
        self._database_check = database_check
        self._broker_check = broker_check
        self._workers_check = workers_check
        self._fresh, self._wait, self._hung, self._remember = fresh, wait, hung, remember
        self._workers_seen: dict[str, float] = {}  # worker name -> time.time() of its answer
        self._lock = threading.Lock()
        self._published = threading.Condition(self._lock)
        self._checked: _Checked | None = None
        self._refresh_started: float | None = None
        self._stage = ""

    def health(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            if self._checked is None or now - self._checked.at >= self._fresh:
                self._refresh_start(now)
                previous = self._checked
                deadline = now + self._wait
                while self._checked is previous and (left := deadline - time.monotonic()) > 0:
                    self._published.wait(left)
            checked, workers = self._checked, self._workers
            stage, started = self._stage, self._refresh_started
        if checked is None:
            parts = {"database": "checking", "broker": "checking"}
        else:
            parts = {"database": checked.database, "broker": checked.broker}
        if started is not None and stage in parts and time.monotonic() - started > self._hung:
            parts[stage] = f"down: no answer within {self._hung:.0f} s"
        if all(value == "ok" for value in parts.values()):
            status = "ok"
        elif checked is None and not any(v.startswith("down") for v in parts.values()):
            status = "starting"
        else:
            status = "down"
        if parts["broker"] != "ok":
            workers = 0
        return {"status": status, **parts, "workers": workers}

    def _refresh_start(self, now: float) -> None:
        if self._refresh_started is not None:
            return
        self._refresh_started, self._stage = now, "database"
        threading.Thread(target=self._refresh, name="health-refresh", daemon=True).start()

    def _refresh(self) -> None:
        try:
            database = self._database_check()
            with self._lock:
                self._stage = "broker"
            broker = self._broker_check()
            # Before the first answer goes out: what the other web processes heard, so that a
            # fresh process does not report 0 workers while its own ping is in flight.
            shared = self._shared_workers_seen() if broker == "ok" else {}
            with self._lock:
                self._workers_merge(shared, time.time())
                self._checked = _Checked(database, broker, time.monotonic())
                self._stage = "workers"
                self._published.notify_all()
            if broker == "ok":
                self._workers_refresh()
        except Exception:  # noqa: BLE001 - the next caller starts a new refresh
            logger.exception("health: refresh failed")
        finally:
            with self._lock:
                self._refresh_started, self._stage = None, ""
                self._published.notify_all()
            connection.close()  # this thread's own connection; none left open between checks

    def _workers_refresh(self) -> None:
        """Ping the workers and count those seen within ``remember`` seconds, by this
        process or another web process (they share what each saw through the cache)."""
        answered = self._workers_check()
        now = time.time()
        shared = self._shared_workers_seen()
        with self._lock:
            self._workers_merge({**shared, **dict.fromkeys(answered, now)}, now)
            seen_now = dict(self._workers_seen)
        with contextlib.suppress(Exception):  # sharing is a nicety: each process also pings
            cache.set(WORKERS_CACHE_KEY, seen_now, timeout=int(self._remember) + 60)

    @property
    def _workers(self) -> int:
        """Workers heard from within ``remember`` seconds (as of the last check)."""
        return len(self._workers_seen)

    def _workers_merge(self, seen: dict[str, float], now: float) -> None:
        """Take the later answer of each worker, then forget those silent for longer than
        ``remember``. Called with the lock held."""
        for name, when in seen.items():
            self._workers_seen[name] = max(when, self._workers_seen.get(name, 0.0))
        for name, last in list(self._workers_seen.items()):
            if now - last > self._remember:
                del self._workers_seen[name]

    @staticmethod
    def _shared_workers_seen() -> dict[str, float]:
        try:
            shared = cache.get(WORKERS_CACHE_KEY)
        except Exception:  # noqa: BLE001 - the cache down: this process's own pings only
            return {}
        if not isinstance(shared, dict):
            return {}
        return {str(k): float(v) for k, v in shared.items() if isinstance(v, int | float)}


_monitor: HealthMonitor | None = None
_monitor_lock = threading.Lock()


def health_monitor() -> HealthMonitor:
    """This process's monitor (a forked child, e.g. a gunicorn worker, gets its own)."""
    global _monitor
    with _monitor_lock:
        if _monitor is None or _monitor.pid != os.getpid():
            _monitor = HealthMonitor()
        return _monitor


def platform_health() -> dict[str, Any]:
    """``{"status": "ok" | "down" | "starting", "database", "broker", "workers"}`` from the
    cached checks (see HealthMonitor); answers within about 100 ms."""
    return health_monitor().health()


# Who may read a stored file is known to the app that owns its top folder
# (``projects/<id>/…``: projects; ``predictions/<slug>/…``: deployments). Each registers a
# check for its folder in AppConfig.ready(), so core never imports the apps above it.
StoredFileCheck = Callable[[Any, str], bool]  # (user, the folder's key) -> visible?
_stored_file_checks: dict[str, StoredFileCheck] = {}


def stored_file_owner_register(folder: str, check: StoredFileCheck) -> None:
    """``check(user, key)`` decides for files named ``<folder>/<key>/…``."""
    _stored_file_checks[folder] = check


def stored_file_visible_to(*, user: Any, name: str) -> bool:
    """May ``user`` read the stored file ``name`` (a path under the media root)?

    Every stored file lives under its owner's folder: ``projects/<id>/...`` (a project's
    images and model files) or ``predictions/<deployment slug>/...`` (the images of a
    deployment's prediction log). ``name`` must already be normalised (no ``..``).
    """
    if not getattr(user, "is_authenticated", False):
        return False
    parts = name.split("/")
    if len(parts) < 3 or not parts[1] or not parts[2]:
        return False
    check = _stored_file_checks.get(parts[0])
    return bool(check and check(user, parts[1]))
