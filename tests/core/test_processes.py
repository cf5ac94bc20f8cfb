"""The supervisor (apps.core.processes): restarting a process that died."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from apps.core.processes import ManagedProcess, Platform, PlatformConfig

# A "worker" that forks a pool process (same process group) and then dies on its own.
CRASHING_PARENT = """
import os, sys, time
pid = os.fork()
if pid == 0:
    time.sleep(60)
    os._exit(0)
with open(sys.argv[1], "w") as handle:
    handle.write(str(pid))
os._exit(1)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _sleeper(name: str) -> ManagedProcess:
    return ManagedProcess(
        name=name, argv=[sys.executable, "-c", "import time; time.sleep(30)"], env=dict(os.environ)
    )


def test_a_crashed_process_is_restarted_once_its_leftover_processes_are_gone(tmp_path: Path):
    pid_file = tmp_path / "pool.pid"
    platform = Platform(PlatformConfig(var_dir=tmp_path / "var"))
    crashed = ManagedProcess(
        name="beat",
        argv=[sys.executable, "-c", CRASHING_PARENT, str(pid_file)],
        env=dict(os.environ),
    )
    platform.processes["beat"] = crashed
    crashed.start()
    crashed.popen.wait(timeout=30)
    pool = int(pid_file.read_text())
    assert _alive(pool)  # orphaned, still "running the job"
    platform.beat_spec = lambda: _sleeper("beat")  # what the restart starts instead
    fresh = None
    try:
        started = time.monotonic()
        fresh = platform.restart("beat")
        # Its group is gone before the fresh process starts: a restarted worker that looks
        # for the jobs of its dead processes must not find the old pool process alive.
        assert not _alive(pool)
        assert fresh.poll() is None and fresh.pid != crashed.pid
        assert time.monotonic() - started < 10
    finally:
        if fresh is not None:
            fresh.stop()
        if _alive(pool):
            os.kill(pool, 9)
