"""Which web processes on this machine are serving a prediction at this moment.

One byte per process in a small file under ``var/run/`` mapped into every web worker: a
process keeps in its byte how many prediction requests it is serving (from the moment the
prediction view starts, before the body is parsed, to its answer) and reads the others'
bytes before starting a model call (a few hundred nanoseconds, no system call). Serving
uses it to pick how many cores a call may take (see ``ModelRunner``): all of them for a
request alone on the machine, one when other requests are being served, so that concurrent
calls do not fight over the same cores.

A process claims its byte with a lock on that byte of the file, held for its lifetime; the
system releases the lock when the process dies, and the next process to start clears every
byte no live process holds. If the file cannot be used, every process counts as alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import threading
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

SLOTS = 64


class Occupancy:
    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._running = 0
        # How deep the current thread is in running() blocks: a request is counted once,
        # however many layers (the view, then the prediction service) mark it.
        self._depth = threading.local()
        self._slot = -1
        self._map: mmap.mmap | None = None
        self._empty = bytes(SLOTS)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if os.fstat(fd).st_size < SLOTS:
                os.ftruncate(fd, SLOTS)
            self._map = mmap.mmap(fd, SLOTS)
            self._fd = fd  # kept open: closing it would release the slot's lock
            for slot in range(SLOTS):
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
                except OSError:
                    continue  # held by a live process
                # No live process holds this byte: whatever it says was left by one that
                # died while serving (killed mid-request). Clear it, or every process would
                # count as busy for good. Keep the first such slot as ours.
                self._map[slot] = 0
                if self._slot < 0:
                    self._slot = slot
                else:
                    fcntl.lockf(fd, fcntl.LOCK_UN, 1, slot)
        except OSError:
            logger.warning("serving occupancy file unavailable: %s", path, exc_info=True)
            self._map = None

    def others_running(self) -> bool:
        """Is another web process serving a prediction right now?"""
        if self._map is None or self._slot < 0:
            return False
        view = self._map[:]
        if self._running:
            view = view[: self._slot] + b"\x00" + view[self._slot + 1 :]
        return view != self._empty

    def idle(self) -> bool:
        """Is no prediction being served right now, in this process or another?"""
        return self._running == 0 and not self.others_running()

    def busy(self) -> bool:
        """Is any prediction other than one of this process's being served right now?"""
        return self._running > 1 or self.others_running()

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Count one prediction served by this process for the duration of the block (a
        block nested in another of the same thread is the same request: not counted again)."""
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        if depth == 0:
            with self._lock:
                self._running += 1
                self._publish()
        try:
            yield
        finally:
            self._depth.value = depth
            if depth == 0:
                with self._lock:
                    self._running -= 1
                    self._publish()

    def _publish(self) -> None:
        if self._map is not None and self._slot >= 0:
            self._map[self._slot] = min(self._running, 255)


_occupancy: Occupancy | None = None
_occupancy_pid = 0
_create_lock = threading.Lock()


def occupancy() -> Occupancy:
    """This process's handle (made after a fork, never inherited)."""
    global _occupancy, _occupancy_pid
    if _occupancy is None or _occupancy_pid != os.getpid():
        with _create_lock:
            if _occupancy is None or _occupancy_pid != os.getpid():
                from django.conf import settings

                path = Path(settings.VAR_DIR) / "run" / "serving-occupancy"
                _occupancy = Occupancy(path)
                _occupancy_pid = os.getpid()
    return _occupancy
