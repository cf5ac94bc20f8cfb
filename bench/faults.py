"""Faults on a running platform: a killed training worker, a frozen broker.

Runs against the real platform started through ``apps.core.processes.Platform`` (embedded
stack: SQLite, the embedded Redis, media on the local disk) on a free 127.0.0.1 port, with
its supervisor loop (``Platform.supervise_once``, what ``make up`` runs) in a thread, so a
dead process is restarted as in production. Job settings are the defaults (stale after
120 s), so a killed worker's job comes back through the job machine's ``worker_ready``
reclaim of the restarted worker, not through the reaper. Two scenes, each bounded in time:

(a) **SIGKILL the training worker mid-finetune** while 8 closed-loop clients call the
    prediction API of a deployed model (the web process is not touched). Reported: seconds
    from the kill to the supervisor's restart, from the kill (and from the restart) to the
    job running again (goal: at most 30 s after the restart), the job's final status and
    attempts, and the prediction requests that failed.
(b) **SIGSTOP the embedded Redis for 15 s** while a user clicks Train: the seconds until
    the API answered, its status and message (goal: a 503 with a clear message within a few
    seconds); after SIGCONT a second click is accepted and that job completes.

    .venv/bin/python -m bench.faults [--quick] [--data PATH]
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from apps.core.processes import Platform, PlatformConfig, free_port
from bench.common import BenchResult, add_common_args, split_dirs, write_result
from bench.loadgen import LoadResult, run_load
from bench.platform_run import (
    TERMINAL,
    BenchPlatform,
    _expect,
    create_project,
    machine_facts,
    machine_note,
    train,
    wait_for,
)

PREDICT_CLIENTS = 8
REDIS_FREEZE_S = 15.0


def _photos(folder: Path, count: int) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))[:count]


def _upload(client: Any, project_id: int, paths: list[Path], label: str, split: str) -> None:
    for start in range(0, len(paths), 50):
        files = [
            ("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths[start : start + 50]
        ]
        _expect(
            client.post(
                f"/api/v1/projects/{project_id}/images/",
                data={"label": label, "split": split},
                files=files,
            ),
            201,
        )


class Supervisor:
    """``Platform.supervise_once`` every 0.2 s in a thread; notes when each restart began."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.restarted_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            for name in self.platform.supervise_once():
                self.restarted_at[name] = time.monotonic()

    def __enter__(self) -> Supervisor:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def start(var_dir: Path) -> BenchPlatform:
    config = PlatformConfig(
        port=free_port(),
        var_dir=var_dir,
        redis_url=None,
        log_to_files=True,
        restart_crashed=True,
        extra_env={"DEBUG": "false"},
    )
    platform = Platform(config)
    platform.prepare()
    try:
        platform.start()
        platform.workers_ready(timeout=120)
    except BaseException:
        platform.stop()
        raise
    return BenchPlatform(platform=platform, url=platform.url, var_dir=var_dir, stop=platform.stop)


def killed_training_worker(
    live: BenchPlatform, supervisor: Supervisor, client: Any, project_id: int, args: Any
) -> dict[str, Any]:
    """Scene (a)."""
    model, _ = train(client, project_id, "quick", timeout=300)
    if model["status"] != "succeeded":
        raise RuntimeError(f"the quick model failed: {str(model)[:400]}")
    deployment = _expect(
        client.post(
            f"/api/v1/projects/{project_id}/deployments/",
            # A rate limit the load never reaches: a 429 is not what this measures.
            json={
                "model_version": model["model_version"],
                "name": "Faults",
                "rate_limit": "1000000/min",
            },
        ),
        201,
    )
    slug = deployment["slug"]
    key = _expect(client.post(f"/api/v1/deployments/{slug}/keys/", json={"name": "f"}), 201)["key"]
    photo = _photos(split_dirs(args.data)[1] / "ants", 1)[0].read_bytes()

    job = _expect(
        client.post(f"/api/v1/projects/{project_id}/training-jobs/", json={"mode": "finetune"}),
        202,
    )
    url = f"/api/v1/training-jobs/{job['id']}/"
    wait_for(
        client,
        url,
        lambda b: b["status"] == "running" and b["stage"] == "training" and b["progress"] > 0.1,
        timeout=300,
        interval=0.1,
    )
    load: dict[str, LoadResult] = {}
    loader = threading.Thread(
        target=lambda: load.update(
            result=run_load(
                deployment["predict_url"],
                body=photo,
                headers={"Authorization": f"Api-Key {key}"},
                requests=10**7,
                concurrency=PREDICT_CLIENTS,
                max_seconds=args.load_seconds,
                multipart_field="image",
            )
        ),
        name="prediction-load",
    )
    loader.start()
    time.sleep(2.0)  # the load is running before the kill
    worker = live.platform.processes["worker-training"]
    killed_at = time.monotonic()
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool process
    running_again = wait_for(
        client,
        url,
        lambda b: (b["status"] == "running" and b["attempts"] >= 2) or b["status"] in TERMINAL,
        timeout=args.recover_timeout,
        interval=0.1,
    )
    back_at = time.monotonic()
    restarted_at = supervisor.restarted_at.get("worker-training")
    ended = wait_for(
        client, url, lambda b: b["status"] in TERMINAL, timeout=args.job_timeout, interval=0.5
    )
    loader.join()
    result = load["result"]
    return {
        "kill_to_restart_s": round(restarted_at - killed_at, 2) if restarted_at else None,
        "kill_to_running_again_s": round(back_at - killed_at, 2),
        "restart_to_running_again_s": (round(back_at - restarted_at, 2) if restarted_at else None),
        "kill_job_running_again_status": running_again["status"],
        "kill_job_final_status": ended["status"],
        "kill_job_attempts": ended["attempts"],
        "kill_predict_requests": result.ok + result.errors,
        "kill_predict_failed": result.errors,
        "kill_predict_statuses": ", ".join(
            f"{k}: {v}" for k, v in sorted(result.status_counts.items())
        ),
        "kill_predict_throughput_rps": round(result.throughput_rps, 1),
        "target_running_again_within_30s_of_restart": (
            "met"
            if restarted_at
            and running_again["status"] == "running"
            and back_at - restarted_at <= 30
            else "not met"
        ),
    }


def frozen_broker(live: BenchPlatform, client: Any, project_id: int, args: Any) -> dict[str, Any]:
    """Scene (b)."""
    redis = live.platform.processes["redis"]
    train_url = f"/api/v1/projects/{project_id}/training-jobs/"
    os.kill(redis.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        clicked = time.perf_counter()
        try:
            response = client.post(train_url, json={"mode": "quick"}, timeout=REDIS_FREEZE_S + 30)
            status, body = response.status_code, response.text[:300]
        except Exception as exc:  # noqa: BLE001 - a hung or refused request is the finding
            status, body = 0, f"{type(exc).__name__}: {exc}"[:300]
        answered_s = time.perf_counter() - clicked
        time.sleep(max(0.0, REDIS_FREEZE_S - (time.monotonic() - stopped_at)))
    finally:
        os.kill(redis.pid, signal.SIGCONT)
    resumed = time.perf_counter()
    second = client.post(train_url, json={"mode": "quick"}, timeout=60)
    second_answer_s = time.perf_counter() - resumed
    finished: dict[str, Any] = {"status": "not started", "id": None}
    if second.status_code == 202:
        finished = wait_for(
            client,
            f"/api/v1/training-jobs/{second.json()['id']}/",
            lambda b: b["status"] in TERMINAL,
            timeout=args.job_timeout,
            interval=0.25,
        )
    return {
        "frozen_click_answer_s": round(answered_s, 2),
        "frozen_click_status": status,
        "frozen_click_body": body,
        "after_cont_click_status": second.status_code,
        "after_cont_click_answer_s": round(second_answer_s, 2),
        "after_cont_job_status": finished["status"],
        "after_cont_click_to_done_s": round(time.perf_counter() - resumed, 2),
        "target_503_within_5s": "met" if status == 503 and answered_s <= 5 else "not met",
    }


def run(args: argparse.Namespace) -> BenchResult:
    train_dir, val_dir = split_dirs(args.data)
    metrics: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        live = start(Path(tmp) / "var")
        try:
            with Supervisor(live.platform) as supervisor:
                client, _ = live.signup()
                with client:
                    project = create_project(client, "Faults", ["ants", "bees"])
                    for label in ("ants", "bees"):
                        _upload(
                            client,
                            project["id"],
                            _photos(train_dir / label, args.train),
                            label,
                            "train",
                        )
                        _upload(
                            client, project["id"], _photos(val_dir / label, args.val), label, "val"
                        )
                    print("(a) SIGKILL the training worker mid-finetune under prediction load...")
                    metrics.update(
                        killed_training_worker(live, supervisor, client, project["id"], args)
                    )
                    print(
                        f"(b) SIGSTOP the embedded Redis for {REDIS_FREEZE_S:.0f} s, click Train..."
                    )
                    metrics.update(frozen_broker(live, client, project["id"], args))
        finally:
            live.stop()
    return BenchResult(
        name="faults" + ("_quick" if args.quick else ""),
        title="Faults: a killed training worker, a frozen broker",
        params={
            "train_images_per_label": args.train,
            "val_images_per_label": args.val,
            "predict_clients": PREDICT_CLIENTS,
            "load_seconds": args.load_seconds,
            "redis_freeze_s": REDIS_FREEZE_S,
            **machine_facts(),
        },
        metrics=metrics,
        notes=[
            machine_note(),
            "Embedded stack, default job settings (heartbeat 5 s, stale after 120 s): the job "
            "comes back through the restarted worker's worker_ready reclaim.",
            "(a) kill_restart: supervisor restarted the worker; running_again: the job's row "
            "reads running with attempt 2 (polled every 0.1 s). Prediction requests: 8 "
            "closed-loop clients for load_seconds, started 2 s before the kill.",
            "(b) the first click while Redis is stopped, the second right after SIGCONT.",
        ],
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--train", type=int, default=40, help="training images per label")
    parser.add_argument("--val", type=int, default=15, help="validation images per label")
    parser.add_argument("--load-seconds", type=float, default=40.0)
    parser.add_argument("--recover-timeout", type=float, default=200.0)
    parser.add_argument("--job-timeout", type=float, default=400.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.val, args.load_seconds = 20, 6, 25.0
    started = time.perf_counter()
    result = run(args)
    result.metrics["bench_wall_s"] = round(time.perf_counter() - started, 1)
    write_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
