"""Start the real Bakehouse platform for a benchmark, and talk to its REST API.

``start_platform(var_dir)`` runs the same ``apps.core.processes.Platform`` that ``make up``
uses (gunicorn web workers, Celery workers for the default and training queues, beat, the
embedded Redis) on a free 127.0.0.1 port with its own SQLite database and media under
``var_dir``, and returns a ``BenchPlatform`` with an API client helper and the worker pids.
``RssSampler`` polls the resident memory of a set of process trees in a thread and keeps the
peak, so "peak memory of the training worker during a job" can be reported.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from apps.core.processes import Platform, PlatformConfig, free_port

TERMINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class BenchPlatform:
    platform: Platform
    url: str
    var_dir: Path
    stop: Callable[[], None]

    def pid(self, name: str) -> int | None:
        """Pid of a managed process: ``web``, ``worker-default``, ``worker-training``..."""
        proc = self.platform.processes.get(name)
        return proc.pid if proc else None

    def client(self, token: str | None = None, timeout: float = 120.0) -> httpx.Client:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def signup(self) -> tuple[httpx.Client, str]:
        """A fresh user; returns a token-authenticated client and the token."""
        with self.client() as anonymous:
            response = anonymous.post(
                "/api/v1/auth/signup/",
                json={"username": f"bench-{uuid.uuid4().hex[:8]}", "password": "bench-pass-4242!"},
            )
        _expect(response, 201)
        token = response.json()["token"]
        return self.client(token), token

    def log(self, name: str) -> str:
        path = self.var_dir / "log" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def start_platform(
    var_dir: Path,
    *,
    extra_env: dict[str, str] | None = None,
    web_workers: int = 2,
    web_threads: int = 4,
) -> BenchPlatform:
    """Migrate, start every process and wait until the web server and both workers answer."""
    env = {"DEBUG": "false", **(extra_env or {})}
    config = PlatformConfig(
        port=free_port(),
        var_dir=var_dir,
        redis_url=None,  # embedded Redis on a unix socket under var_dir: nothing shared
        log_to_files=True,
        restart_crashed=False,
        web_workers=web_workers,
        web_threads=web_threads,
        extra_env=env,
    )
    platform = Platform(config)
    platform.prepare()
    try:
        platform.start()
        platform.workers_ready(timeout=120)
    except BaseException:
        platform.stop()
        raise
    return BenchPlatform(
        platform=platform, url=platform.url, var_dir=Path(var_dir), stop=platform.stop
    )


# ------------------------------------------------------------------------------ API steps


def _expect(response: httpx.Response, *codes: int) -> dict[str, Any]:
    if response.status_code not in codes:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: "
            f"{response.text[:500]}"
        )
    return response.json() if response.content else {}


def create_project(client: httpx.Client, name: str, labels: Iterable[str]) -> dict[str, Any]:
    return _expect(
        client.post("/api/v1/projects/", json={"name": name, "labels": list(labels)}), 201
    )


def wait_for(
    client: httpx.Client,
    url: str,
    until: Callable[[dict[str, Any]], bool],
    *,
    timeout: float,
    interval: float = 0.1,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = _expect(client.get(url), 200)
        if until(body):
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not finish in {timeout:.0f} s: {str(body)[:400]}")
        time.sleep(interval)


def import_zip(
    client: httpx.Client, project_id: int, zip_path: Path, *, timeout: float = 900.0
) -> dict[str, Any]:
    """POST the archive to the import API and wait until the import job ends."""
    with zip_path.open("rb") as handle:
        job = _expect(
            client.post(
                f"/api/v1/projects/{project_id}/imports/",
                files={"file": (zip_path.name, handle, "application/zip")},
            ),
            202,
        )
    return wait_for(
        client,
        f"/api/v1/imports/{job['id']}/",
        lambda body: body["status"] in ("succeeded", "failed"),
        timeout=timeout,
        interval=0.1,
    )


def train(
    client: httpx.Client, project_id: int, mode: str, *, timeout: float = 1800.0
) -> tuple[dict[str, Any], float]:
    """Click "train" and wait for the job to end; returns the finished job and the seconds
    from the POST to the job reporting a terminal state (polled every 0.1 s)."""
    started = time.perf_counter()
    job = _expect(
        client.post(f"/api/v1/projects/{project_id}/training-jobs/", json={"mode": mode}), 202
    )
    done = wait_for(
        client,
        f"/api/v1/training-jobs/{job['id']}/",
        lambda body: body["status"] in TERMINAL,
        timeout=timeout,
        interval=0.1,
    )
    return done, time.perf_counter() - started


# ------------------------------------------------------------------------------ memory


class RssSampler:
    """Polls the summed RSS of each named process tree every ``interval`` s; keeps peaks.

    ``with RssSampler({"training": pid}) as rss: ...`` then ``rss.peak_mb["training"]``."""

    def __init__(self, pids: dict[str, int | None], interval: float = 0.1) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.interval = interval
        self.peak_mb: dict[str, float] = dict.fromkeys(self.pids, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def tree_rss(pid: int) -> int:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.Error:
                continue
        return total

    def sample(self) -> None:
        for name, pid in self.pids.items():
            mb = self.tree_rss(pid) / 2**20
            self.peak_mb[name] = round(max(self.peak_mb[name], mb), 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()


# ------------------------------------------------------------------------------ context


def trained_project(
    client: httpx.Client, name: str, classes: list[str], zip_path: Path, *, mode: str = "quick"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new project with the archive imported and one training job run to success.
    Returns the project and the finished job; raises when the import or the training fails."""
    project = create_project(client, name, classes)
    imported = import_zip(client, project["id"], zip_path)
    if imported["status"] != "succeeded":
        raise RuntimeError(f"import failed: {imported}")
    job, _seconds = train(client, project["id"], mode, timeout=900)
    if job["status"] != "succeeded":
        raise RuntimeError(f"training failed: {job}")
    return project, job


def deploy_with_key(
    client: httpx.Client, project_id: int, model_version: int
) -> tuple[dict[str, Any], str]:
    """Deploy ``model_version`` with no practical rate limit (the default, 600/min, would
    throttle a load test itself) and make an API key. Returns the deployment and the key."""
    deployment = _expect(
        client.post(
            f"/api/v1/projects/{project_id}/deployments/",
            json={"model_version": model_version, "rate_limit": "1000000/min"},
        ),
        201,
    )
    key = _expect(
        client.post(f"/api/v1/deployments/{deployment['slug']}/keys/", json={"name": "bench"}),
        201,
    )["key"]
    return deployment, key


def wait_for_background_jobs(client: Any, project_id: int, version: int) -> str | None:
    """Wait until the jobs a finished training starts (the version's INT8 copy, the data
    health report) are done: they share the cores with the server under test. Returns why
    the INT8 copy cannot be served (None when it can)."""
    deadline = time.monotonic() + 300
    while True:
        int8 = client.get(f"/api/v1/models/{version}/").json()["metrics"].get("int8") or {}
        health = client.get(f"/api/v1/projects/{project_id}/health/").json().get("status")
        if int8 and int8.get("status") != "compressing" and health != "computing":
            break
        if time.monotonic() > deadline:
            return "the INT8 copy or the health report was not ready after 300 s"
        time.sleep(1)
    return f"quantization failed: {int8['error']}" if int8.get("error") else None


def machine_facts() -> dict[str, Any]:
    """CPU model (from /proc/cpuinfo), logical cores and RAM: the lines quoted with results."""
    import os

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def machine_note() -> str:
    facts = machine_facts()
    return (
        f"Machine: {facts['cores']} cores, {facts['cpu_model']}, {facts['ram_gb']} GB RAM; "
        f"1-min load average before the run {psutil.getloadavg()[0]:.2f}."
    )
