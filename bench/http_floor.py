"""The HTTP floor: what one prediction-sized request costs before any application code runs.

gunicorn with the web process's worker settings (gthread, 2 workers x 4 threads, keep-alive)
serves a WSGI app that reads the request body and returns a fixed JSON answer; the predict
benchmark sends it the same multipart JPEG with the same load generator. The figure splits
the API's latency into this floor, decode + preprocess, the forward pass, and the rest
(Django, DRF, the key check, the rate-limit count, the prediction log).

    .venv/bin/python -m bench.http_floor   # serves on a free port until interrupted
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator

import httpx

from apps.core.processes import free_port

ANSWER = b'{"prediction": {"label": "ants", "confidence": 0.9}}'


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """Read the whole body, answer a fixed prediction."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))],
    )
    return [ANSWER]


@contextlib.contextmanager
def serve(*, workers: int = 2, threads: int = 4) -> Iterator[str]:
    """Run the app under gunicorn on a free 127.0.0.1 port; yields its URL."""
    with serve_process(workers=workers, threads=threads) as (url, _pid):
        yield url


@contextlib.contextmanager
def serve_process(*, workers: int = 2, threads: int = 4) -> Iterator[tuple[str, int]]:
    """Like ``serve``; yields the URL and the gunicorn master's pid (its process tree holds
    the workers, for CPU accounting)."""
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "bench.http_floor:application",
        "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
        "--keep-alive", "5", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.post(url, content=b"x", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the HTTP floor server did not start")
            time.sleep(0.1)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(20)


if __name__ == "__main__":
    with serve() as served_url:
        print(served_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
