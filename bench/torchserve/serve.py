"""TorchServe anchor: pack the ONNX classifier into a .mar, serve it with 2 workers, measure it.

``start_torchserve(onnx_path, workdir)`` builds the archive with ``torch-model-archiver``, starts
``torchserve`` on free 127.0.0.1 ports with token auth, the model API and system metrics off,
waits until every worker is READY and returns ``(url, stop_fn)``; the prediction benchmark uses it
to load-test TorchServe side by side with Bakehouse. Run as a script it measures TorchServe alone:
sequential latency for a 224x224 JPEG and throughput with 8 concurrent clients.

    .venv/bin/python -m bench.torchserve.serve [--onnx PATH] [--workers 2] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.common import BenchResult, add_common_args, process_tree_rss_mb, write_result
from bench.loadgen import run_load

HERE = Path(__file__).resolve().parent
MODEL_NAME = "bakehouse_ref"
CLASSES = ("ants", "bees")  # hymenoptera's folders, sorted like ImageFolder sorts them


@dataclass
class RunningServer:
    """Unpacks as ``url, stop = start_torchserve(...)``; ``pid`` and ``log`` are for diagnostics."""

    url: str
    stop: Callable[[], None]
    pid: int
    management_url: str
    log: Path

    def __iter__(self) -> Iterator:
        return iter((self.url, self.stop))


def _tool(name: str) -> str:
    # Prefer the copy beside the running interpreter (the project venv) over PATH.
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed: pip install -e '.[bench]'")
    return found


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def build_mar(
    onnx_path: Path | str, workdir: Path | str, *, workers: int = 2, intra_op_threads: int = 1
) -> Path:
    """Pack ``onnx_path`` + ``handler.py`` into ``workdir/model_store/bakehouse_ref.mar``."""
    workdir = Path(workdir)
    store = workdir / "model_store"
    store.mkdir(parents=True, exist_ok=True)
    names = workdir / "index_to_name.json"
    names.write_text(json.dumps({str(i): name for i, name in enumerate(CLASSES)}))
    config = workdir / "model-config.yaml"
    # A fixed pool of one-image-batch workers, as the anchor measures (the model config's worker
    # counts win over default_workers_per_model); each worker's ORT session has its own threads.
    config.write_text(
        f"minWorkers: {workers}\nmaxWorkers: {workers}\nbatchSize: 1\nresponseTimeout: 60\n"
        f"handler:\n  intra_op_threads: {intra_op_threads}\n"
    )
    subprocess.run(
        [
            _tool("torch-model-archiver"),
            "--model-name", MODEL_NAME,
            "--version", "1.0",
            "--serialized-file", str(onnx_path),
            "--handler", str(HERE / "handler.py"),
            "--extra-files", str(names),
            "--config-file", str(config),
            "--export-path", str(store),
            "--force",
        ],
        check=True,
    )  # fmt: skip
    return store / f"{MODEL_NAME}.mar"


def _write_config(workdir: Path, ports: list[int], workers: int) -> Path:
    inference, management, metrics, grpc_inference, grpc_management, worker_port = ports
    config = workdir / "config.properties"
    config.write_text(
        "\n".join(
            [
                f"inference_address=http://127.0.0.1:{inference}",
                f"management_address=http://127.0.0.1:{management}",
                f"metrics_address=http://127.0.0.1:{metrics}",
                "grpc_inference_address=127.0.0.1",
                "grpc_management_address=127.0.0.1",
                f"grpc_inference_port={grpc_inference}",
                f"grpc_management_port={grpc_management}",
                f"initial_worker_port={worker_port}",
                f"default_workers_per_model={workers}",
                "disable_token_authorization=true",
                "enable_model_api=false",
                "enable_metrics_api=false",
                "disable_system_metrics=true",
                "install_py_dep_per_model=false",
                "enable_envvars_config=false",
                f"model_store={workdir / 'model_store'}",
                "",
            ]
        )
    )
    return config


def _stopper(process: subprocess.Popen) -> Callable[[], None]:
    def stop() -> None:
        # The CLI starts the Java frontend, which starts the Python workers: end that tree by pid.
        try:
            tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
        except psutil.NoSuchProcess:
            tree = []
        for proc in reversed(tree):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(tree, timeout=20)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        process.wait(timeout=10)

    return stop


def start_torchserve(
    onnx_path: Path | str,
    workdir: Path | str,
    *,
    workers: int = 2,
    intra_op_threads: int = 1,
    ready_timeout_s: float = 180.0,
) -> RunningServer:
    """Serve ``onnx_path`` with TorchServe; return ``(url, stop_fn)`` once all workers are READY.

    ``url`` takes ``POST`` with the JPEG as raw body (or a multipart field) and answers
    ``{"label": ..., "probabilities": {...}}``. Everything (logs, pid file, sockets) stays in
    ``workdir`` so several servers, or other engineers' runs, do not collide.
    """
    workdir = Path(workdir).resolve()
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    build_mar(onnx_path, workdir, workers=workers, intra_op_threads=intra_op_threads)
    ports = _free_ports(6)
    config = _write_config(workdir, ports, workers)
    env = {
        **os.environ,
        "TMPDIR": str(tmp),  # the CLI keeps its pid file in tempfile.gettempdir()
        "TEMP": str(tmp),  # the frontend's java.io.tmpdir (worker sockets, unpacked models)
        "LOG_LOCATION": str(workdir / "logs"),
        "METRICS_LOCATION": str(workdir / "logs"),
    }
    log = workdir / "torchserve.out"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                _tool("torchserve"),
                "--start", "--foreground", "--ncs",
                "--ts-config", str(config),
                "--model-store", str(workdir / "model_store"),
                "--models", f"{MODEL_NAME}={MODEL_NAME}.mar",
                "--disable-token-auth",
            ],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    stop = _stopper(process)
    management = f"http://127.0.0.1:{ports[1]}"
    try:
        _wait_ready(process, f"{management}/models/{MODEL_NAME}", workers, ready_timeout_s, log)
    except BaseException:
        stop()
        raise
    return RunningServer(
        url=f"http://127.0.0.1:{ports[0]}/predictions/{MODEL_NAME}",
        stop=stop,
        pid=process.pid,
        management_url=management,
        log=log,
    )


def _wait_ready(
    process: subprocess.Popen, describe_url: str, workers: int, timeout_s: float, log: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"torchserve exited with {process.returncode}; see {log}")
        try:
            response = httpx.get(describe_url, timeout=2)
            if response.status_code == 200:
                states = [w.get("status") for w in response.json()[0].get("workers", [])]
                if states.count("READY") >= workers:
                    return
        except (httpx.HTTPError, ValueError, IndexError, KeyError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"torchserve workers not READY after {timeout_s:.0f} s; see {log}")


def run(args: argparse.Namespace) -> BenchResult:
    from bench.onnx_forward import export_reference_onnx, sample_jpeg

    sequential_n, concurrent_n = (20, 80) if args.quick else (args.requests, args.requests * 4)
    with tempfile.TemporaryDirectory(prefix="torchserve-bench-") as tmp:
        workdir = Path(tmp)
        onnx_path = args.onnx or export_reference_onnx(workdir / "reference.onnx")
        jpeg = sample_jpeg(args.data)
        started = time.perf_counter()
        server = start_torchserve(
            onnx_path, workdir / "serve", workers=args.workers, intra_op_threads=args.threads
        )
        startup_s = time.perf_counter() - started
        try:
            answer = httpx.post(server.url, content=jpeg, timeout=30).json()
            if set(answer.get("probabilities", {})) != set(CLASSES):
                raise RuntimeError(f"unexpected TorchServe answer: {answer}")
            sequential = run_load(
                server.url, body=jpeg, requests=sequential_n, concurrency=1, warmup=10
            )
            concurrent = run_load(
                server.url,
                body=jpeg,
                requests=concurrent_n,
                concurrency=args.concurrency,
                warmup=10,
                max_seconds=args.max_seconds,
            )
            rss_mb = process_tree_rss_mb(server.pid)
        finally:
            server.stop()

    return BenchResult(
        name="torchserve" + ("_quick" if args.quick else ""),
        title="Anchor: TorchServe + ONNX Runtime handler, one 224x224 JPEG per request",
        params={
            "torchserve": _version("torchserve"),
            "workers": args.workers,
            "ort_threads_per_worker": args.threads,
            "concurrency": args.concurrency,
            "model": str(args.onnx) if args.onnx else "reference export (lite0 + 2-class head)",
            "jpeg_bytes": len(jpeg),
        },
        metrics={
            **sequential.summary("sequential_"),
            **concurrent.summary(f"c{args.concurrency}_"),
            "startup_s": round(startup_s, 1),
            "server_rss_mb": rss_mb,
        },
        notes=[
            "Raw JPEG body, POST /predictions/<model>; the load generator (bench/loadgen.py) "
            "shares the machine's cores with the server.",
            f"server_rss_mb: frontend JVM + {args.workers} Python workers, after the load.",
        ],
    )


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument(
        "--onnx", type=Path, default=None, help="serve this model (default: export)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="ORT intra-op threads per worker")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    result = run(args)
    write_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
