"""Rollouts through the real platform (issue 16): a shadow's cost on the live answer, version
changes under load, and a canary's share.

Two quick versions are trained through the platform (v2 after a few training images were
relabelled, so the two disagree now and then) and v1 is deployed. Then:

1. **Shadow cost.** One client (``bench.loadgen``), the shadow off and on in alternating
   blocks (so drift of the shared machine hits both alike): the live answer's median
   latency with and without a shadow candidate running beside it.
2. **Changes under load.** 8 closed-loop clients keep predicting while the deployment goes
   through: start a shadow, promote it, roll back, switch by hand, start a canary and abort
   it. Every answer is recorded (when it was sent, which version answered): failed requests,
   answers not naming a version of the project, and for each change how long after its API
   call returned a request could still be answered the old way (the change reaching every
   web process).
3. **Canary share.** A canary at 10 % and 2,000 requests over HTTP (8 clients): the share the
   candidate answered.

    .venv/bin/python -m bench.bench_rollout [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.bench_training import dataset_zip
from bench.common import BenchResult, add_common_args, write_result
from bench.loadgen import check_loopback, run_load
from bench.platform_run import (
    _expect,
    create_project,
    import_zip,
    machine_facts,
    machine_note,
    start_platform,
    train,
)


@dataclass(frozen=True)
class Answer:
    sent: float  # perf_counter
    done: float
    status: int
    version: int | None
    number: int | None


class RecordingLoad:
    """``clients`` closed-loop clients predicting in a thread until stopped, every answer
    recorded."""

    def __init__(self, url: str, *, body: bytes, headers: dict[str, str], clients: int) -> None:
        check_loopback(url)
        self.url, self.body, self.headers, self.clients = url, body, headers, clients
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

            async def worker() -> None:
                while not self._stop.is_set():
                    sent = time.perf_counter()
                    try:
                        response = await client.post(
                            self.url,
                            files={"image": ("image.jpg", self.body, "image/jpeg")},
                            headers=self.headers,
                        )
                        body = response.json() if response.is_success else {}
                        status = response.status_code
                    except (httpx.HTTPError, ValueError):
                        body, status = {}, 0
                    self.answers.append(
                        Answer(
                            sent,
                            time.perf_counter(),
                            status,
                            body.get("model_version"),
                            body.get("model_version_number"),
                        )
                    )

            await asyncio.gather(*(worker() for _ in range(self.clients)))

    def __enter__(self) -> RecordingLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def _relabel(client: httpx.Client, project_id: int, label: str, to: str, count: int) -> None:
    images = _expect(
        client.get(
            f"/api/v1/projects/{project_id}/images/", params={"label": label, "split": "train"}
        ),
        200,
    )["results"]
    for image in images[:count]:
        _expect(
            client.patch(
                f"/api/v1/projects/{project_id}/images/{image['id']}/", json={"label": to}
            ),
            200,
        )


def _shadow_cost(
    client: httpx.Client, slug: str, v2: int, url: str, jpeg: bytes, key: str, args: Any
) -> dict[str, Any]:
    headers = {"Authorization": f"Api-Key {key}"}
    candidate = f"/api/v1/deployments/{slug}/candidate/"
    off: list[float] = []
    on: list[float] = []
    paired: list[float] = []  # per round: median on - median off (slow drift cancels)
    ran = sent = dropped = 0
    for _ in range(args.rounds):
        medians = {}
        for shadow in (False, True):
            if shadow:
                _expect(client.put(candidate, json={"model_version": v2, "mode": "shadow"}), 200)
            result = run_load(
                url,
                body=jpeg,
                headers=headers,
                requests=args.block,
                concurrency=1,
                warmup=10,  # after a change: every process reloads, the shadow warms up
                multipart_field="image",
            )
            if result.errors:
                raise RuntimeError(f"shadow cost block failed: {result.status_counts}")
            (on if shadow else off).extend(result.latencies_s)
            medians[shadow] = statistics.median(result.latencies_s) * 1e3
            if shadow:
                # The shadow runs a moment behind the answers: let it catch up.
                expected, deadline = args.block + 10, time.monotonic() + 5.0
                state = _expect(client.get(candidate), 200)
                while state["requests"] + state["dropped"] < expected:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                    state = _expect(client.get(candidate), 200)
                ran, sent = ran + state["requests"], sent + expected
                dropped += state["dropped"]
                _expect(client.delete(candidate), 204)
        paired.append(medians[True] - medians[False])
    off_ms, on_ms = statistics.median(off) * 1e3, statistics.median(on) * 1e3
    return {
        "shadow_off_c1_median_ms": round(off_ms, 2),
        "shadow_on_c1_median_ms": round(on_ms, 2),
        "shadow_on_minus_off_median_ms": round(on_ms - off_ms, 2),
        "shadow_on_minus_off_per_round_ms": [round(d, 2) for d in paired],
        "shadow_on_minus_off_median_of_rounds_ms": round(statistics.median(paired), 2),
        "shadow_off_c1_p95_ms": round(sorted(off)[int(0.95 * (len(off) - 1))] * 1e3, 2),
        "shadow_on_c1_p95_ms": round(sorted(on)[int(0.95 * (len(on) - 1))] * 1e3, 2),
        "shadow_c1_requests_each": len(off),
        "target_shadow_c1_median_le_plus_1ms": "met" if on_ms - off_ms <= 1.0 else "MISSED",
        "shadow_c1_candidate_ran_on": ran,
        "shadow_c1_requests_sent": sent,
        "shadow_c1_dropped": dropped,
        "shadow_c1_last_block_agreement": state.get("agreement"),
    }


def _shadow_under_load(
    client: httpx.Client, slug: str, v2: int, url: str, jpeg: bytes, key: str, seconds: float
) -> dict[str, Any]:
    """8 clients for ``seconds`` with the shadow off, then on: the live answers' latency, and
    how many requests the shadow ran on or dropped (its queue is bounded)."""
    candidate = f"/api/v1/deployments/{slug}/candidate/"
    headers = {"Authorization": f"Api-Key {key}"}
    figures: dict[str, Any] = {}
    for shadow in (False, True):
        if shadow:
            _expect(client.put(candidate, json={"model_version": v2, "mode": "shadow"}), 200)
        with RecordingLoad(url, body=jpeg, headers=headers, clients=8) as load:
            time.sleep(seconds)
        answers = [a for a in load.answers if a.status == 200]
        name = "on" if shadow else "off"
        figures[f"shadow_{name}_c8_requests"] = len(load.answers)
        figures[f"shadow_{name}_c8_failed"] = len(load.answers) - len(answers)
        figures[f"shadow_{name}_c8_median_ms"] = round(
            statistics.median(a.done - a.sent for a in answers) * 1e3, 2
        )
        if shadow:
            deadline = time.monotonic() + 20.0
            state = _expect(client.get(candidate), 200)
            while state["requests"] + state["dropped"] < len(answers):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
                state = _expect(client.get(candidate), 200)
            figures["shadow_c8_candidate_ran_on"] = state["requests"]
            figures["shadow_c8_dropped"] = state["dropped"]
            figures["shadow_c8_agreement"] = state["agreement"]
            _expect(client.delete(candidate), 204)
    return figures


def _changes_under_load(
    client: httpx.Client, slug: str, v1: int, v2: int, url: str, jpeg: bytes, key: str
) -> dict[str, Any]:
    base = f"/api/v1/deployments/{slug}"
    # (name, request, the versions that may answer once it took effect)
    steps: list[tuple[str, Any, set[int]]] = [
        (
            "shadow_start",
            lambda: client.put(f"{base}/candidate/", json={"model_version": v2, "mode": "shadow"}),
            {v1},
        ),
        ("promote", lambda: client.post(f"{base}/candidate/promote/"), {v2}),
        ("rollback", lambda: client.post(f"{base}/rollback/"), {v1}),
        ("switch", lambda: client.patch(f"{base}/", json={"model_version": v2}), {v2}),
        (
            "canary_start",
            lambda: client.put(
                f"{base}/candidate/", json={"model_version": v1, "mode": "canary", "percent": 50}
            ),
            {v1, v2},
        ),
        ("abort", lambda: client.delete(f"{base}/candidate/"), {v2}),
    ]
    numbers = {v1: 1, v2: 2}
    shadow: dict[str, Any] = {}
    # (name, when its API call was sent, when it returned, the versions that may answer)
    marks: list[tuple[str, float, float, set[int]]] = []
    with RecordingLoad(
        url, body=jpeg, headers={"Authorization": f"Api-Key {key}"}, clients=8
    ) as load:
        time.sleep(3.0)
        for name, call, expected in steps:
            sent = time.perf_counter()
            response = call()
            if response.status_code not in (200, 204):
                raise RuntimeError(f"{name}: {response.status_code} {response.text[:300]}")
            marks.append((name, sent, time.perf_counter(), expected))
            time.sleep(3.0)
            if name == "shadow_start":  # the shadow after 3 s of 8 clients
                state = _expect(client.get(f"{base}/candidate/"), 200)
                shadow = {key: state[key] for key in ("requests", "dropped", "agreement")}
    answers = load.answers
    failed = sum(1 for a in answers if a.status != 200)
    unnamed = sum(
        1
        for a in answers
        if a.status == 200 and (a.version not in numbers or numbers[a.version] != a.number)
    )
    figures: dict[str, Any] = {
        **{f"shadow_c8_3s_{key}": value for key, value in shadow.items()},
        "load_requests": len(answers),
        "load_failed_requests": failed,
        "load_answers_not_naming_their_version": unnamed,
    }
    worst = 0.0
    for index, (name, _sent, at, expected) in enumerate(marks):
        until = marks[index + 1][1] if index + 1 < len(marks) else float("inf")
        # Requests sent after the change returned (and before the next change was sent) that
        # were still answered the old way: the last such one says when every process had it.
        stale = [a.sent - at for a in answers if at <= a.sent < until and a.version not in expected]
        lag = max(stale, default=0.0)
        worst = max(worst, lag)
        figures[f"{name}_stale_answers"] = len(stale)
        figures[f"{name}_visible_everywhere_after_s"] = round(lag, 3)
    figures["changes_visible_everywhere_worst_s"] = round(worst, 3)
    figures["target_changes_0_failed_named_visible_le_1s"] = (
        "met" if failed == 0 and unnamed == 0 and worst <= 1.0 else "MISSED"
    )
    return figures


def _canary_share(
    client: httpx.Client, slug: str, v1: int, url: str, jpeg: bytes, key: str, requests: int
) -> dict[str, Any]:
    candidate = f"/api/v1/deployments/{slug}/candidate/"
    _expect(client.put(candidate, json={"model_version": v1, "mode": "canary", "percent": 10}), 200)
    load = RecordingLoad(url, body=jpeg, headers={"Authorization": f"Api-Key {key}"}, clients=8)
    with load:
        deadline = time.monotonic() + 300
        while len(load.answers) < requests and time.monotonic() < deadline:
            time.sleep(0.05)
    answers = load.answers[:requests]
    _expect(client.delete(candidate), 204)
    by_candidate = sum(1 for a in answers if a.version == v1)
    share = by_candidate / max(1, len(answers))
    return {
        "canary_requests": len(answers),
        "canary_failed_requests": sum(1 for a in answers if a.status != 200),
        "canary_answered_by_candidate": by_candidate,
        "canary_share_percent": round(share * 100, 2),
        "target_canary_10pct_within_3": "met" if abs(share - 0.10) <= 0.03 else "MISSED",
    }


def run(args: argparse.Namespace) -> BenchResult:
    from bench.onnx_forward import sample_jpeg

    jpeg = sample_jpeg(args.data)
    metrics: dict[str, Any] = {}
    notes = [machine_note()]
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        tmp_path = Path(tmp)
        zip_path, classes = dataset_zip(args.data, tmp_path / "data.zip", per_class=args.per_class)
        live = start_platform(tmp_path / "var", extra_env={"BAKEHOUSE_EMBED_ON_INGEST": "false"})
        try:
            client, _ = live.signup()
            with client:
                project = create_project(client, "Rollout benchmark", classes)
                imported = import_zip(client, project["id"], zip_path)
                if imported["status"] != "succeeded":
                    raise RuntimeError(f"import failed: {imported}")
                first, _ = train(client, project["id"], "quick", timeout=600)
                _relabel(client, project["id"], classes[0], classes[1], args.per_class // 2)
                second, _ = train(client, project["id"], "quick", timeout=600)
                for job in (first, second):
                    if job["status"] != "succeeded":
                        raise RuntimeError(f"training failed: {job}")
                v1, v2 = first["model_version"], second["model_version"]
                deployment = _expect(
                    client.post(
                        f"/api/v1/projects/{project['id']}/deployments/",
                        json={"model_version": v1, "rate_limit": "1000000/min"},
                    ),
                    201,
                )
                slug = deployment["slug"]
                key = _expect(
                    client.post(f"/api/v1/deployments/{slug}/keys/", json={"name": "bench"}), 201
                )["key"]
                url = f"{live.url}/api/v1/predict/{slug}/"
                started = time.perf_counter()
                metrics.update(_shadow_cost(client, slug, v2, url, jpeg, key, args))
                metrics.update(
                    _shadow_under_load(client, slug, v2, url, jpeg, key, args.load_seconds)
                )
                metrics.update(_changes_under_load(client, slug, v1, v2, url, jpeg, key))
                # v2 is live now: the canary's candidate is v1.
                metrics.update(
                    _canary_share(client, slug, v1, url, jpeg, key, args.canary_requests)
                )
                metrics["measured_s"] = round(time.perf_counter() - started, 1)
        finally:
            live.stop()
    notes += [
        "Platform: gunicorn 2 web workers x 4 threads, Celery workers, beat, embedded Redis, "
        "SQLite; one 224x224 JPEG per request (multipart), an Api-Key header, store_images on.",
        f"Shadow cost: {args.rounds} rounds of {args.block} sequential requests with the shadow "
        "off, then on (10 unmeasured requests after each change); medians over all blocks, and "
        "the median of the rounds' differences (on - off, each round's two blocks back to back). "
        "shadow_c1_candidate_ran_on / _requests_sent: requests the candidate ran on (results "
        "written) of those sent while the shadow was on.",
        "shadow_c8_3s_*: the shadow's counts after 3 s of 8 clients, read at once. "
        f"shadow_off/on_c8_*: {args.load_seconds:.0f} s of 8 clients without, then with, a "
        "shadow; shadow_c8_candidate_ran_on / _dropped: what became of those requests once the "
        "shadow caught up (its queue is bounded: what it cannot keep up with is dropped and "
        "counted, never waited for).",
        "Changes under load: 8 closed-loop clients; *_visible_everywhere_after_s: the latest "
        "send time, after the change's API call returned, of a request still answered by a "
        "version the change had removed (0: none was); each window ends when the next change "
        "is sent.",
        "The load generator runs on the same cores as the platform. The machine's 2 cores are "
        "shared with other work during the run (other developers' tests), so figures are noisy.",
    ]
    return BenchResult(
        name="rollout" + ("_quick" if args.quick else ""),
        title="Rollouts: shadow cost, changes under load, canary share",
        params={
            "rounds": args.rounds,
            "block": args.block,
            "canary_requests": args.canary_requests,
            "train_images_per_class": args.per_class,
            **machine_facts(),
        },
        metrics=metrics,
        notes=notes,
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--rounds", type=int, default=8, help="shadow off/on rounds")
    parser.add_argument("--block", type=int, default=30, help="sequential requests per block")
    parser.add_argument("--canary-requests", type=int, default=2000)
    parser.add_argument("--load-seconds", type=float, default=8.0, help="8-client shadow load")
    parser.add_argument("--per-class", type=int, default=10, help="images per class to train on")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.block, args.canary_requests, args.per_class = 2, 20, 400, 6
        args.load_seconds = 4.0
    started = time.perf_counter()
    result = run(args)
    result.metrics["bench_wall_s"] = round(time.perf_counter() - started, 1)
    write_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
