"""Where a prediction request's time goes: the fp32 request path, component by component.

A fast model is trained and deployed through the real platform (as ``bench_predict`` does);
then this process opens the same database, broker and storage (the platform's environment)
and calls the web process's WSGI application in-process with the same multipart JPEG, one
request at a time, timing each component of the path:

* ``parse``: reading the multipart body into the request's images (DRF's parser);
* ``key check``: the API key against the deployment's keys held in memory;
* ``rate count``: the one Redis round trip that both confirms nothing changed since (the
  generation) and counts the request against the rate limit; ``throttle``: reading that
  count against the limit;
* ``decode`` and ``preprocess``: the JPEG to pixels, the pixels to the model's input;
* ``forward``: ONNX Runtime (with the runner's lane logic around it);
* ``ood + sketch``: the out-of-distribution score and the drift sketch of the embedding;
* ``log hand-off``: queueing the prediction log entry for its background writer;
* ``metrics``: the Prometheus counters;
* ``render``: the JSON answer;
* ``framework``: everything else inside the WSGI call (Django's middlewares, URL routing,
  DRF's dispatch, the answer's assembly).

The background log writer (a row and the image per prediction) runs in another thread; its
CPU is measured apart, per prediction. HTTP (gunicorn reading and answering a request) is
``bench.http_floor``'s server CPU per request, measured with the same load generator.

    .venv/bin/python -m bench.bench_request_path [--requests 400]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.bench_training import dataset_zip
from bench.common import BenchResult, add_common_args, process_tree_cpu_s, write_result
from bench.loadgen import run_load
from bench.platform_run import (
    deploy_with_key,
    machine_note,
    start_platform,
    trained_project,
    wait_for_background_jobs,
)

COMPONENTS = (
    "parse",
    "key check",
    "rate count",
    "throttle",
    "decode",
    "preprocess",
    "forward",
    "ood + sketch",
    "log hand-off",
    "metrics",
    "render",
)


class ComponentClock:
    """Wall time of each component within the current request (one request at a time).
    Exclusive: a component called inside another (the rate count inside the key check)
    is taken out of the outer one's time."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.requests: list[dict[str, float]] = []
        self._inner: list[float] = []  # per open component: time spent in nested ones

    def wrap(self, owner: Any, attribute: str, component: str) -> None:
        original = getattr(owner, attribute)
        clock = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            clock._inner.append(0.0)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent = (time.perf_counter() - started) * 1e3
                nested = clock._inner.pop()
                clock.current[component] += spent - nested
                if clock._inner:
                    clock._inner[-1] += spent

        setattr(owner, attribute, timed)

    def request_done(self, total_ms: float) -> None:
        self.current["total"] = total_ms
        self.requests.append(dict(self.current))
        self.current = defaultdict(float)

    def medians(self) -> dict[str, float]:
        keys = ("total", *COMPONENTS)
        figures = {k: statistics.median(r.get(k, 0.0) for r in self.requests) for k in keys}
        framework = [r["total"] - sum(r.get(k, 0.0) for k in COMPONENTS) for r in self.requests]
        figures["framework"] = statistics.median(framework)
        return {k: round(v, 3) for k, v in figures.items()}


def _instrument(clock: ComponentClock) -> None:
    """Wrap each component's function where the request path looks it up."""
    from rest_framework.renderers import JSONRenderer

    from apps import ml
    from apps.deployments import apis, services
    from apps.deployments.prediction_log import PredictionLogWriter
    from apps.deployments.serving import store as store_module
    from apps.deployments.serving.authentication import DeploymentApiKeyAuthentication
    from apps.deployments.serving.runner import ModelRunner
    from apps.deployments.serving.throttling import DeploymentRateThrottle

    clock.wrap(apis, "read_inputs", "parse")
    clock.wrap(DeploymentApiKeyAuthentication, "authenticate", "key check")
    clock.wrap(store_module._RedisStore, "get_and_incr", "rate count")
    clock.wrap(store_module._DjangoCacheStore, "get_and_incr", "rate count")
    clock.wrap(DeploymentRateThrottle, "allow_request", "throttle")
    clock.wrap(services, "decode_for_model", "decode")
    clock.wrap(ml, "preprocess_batch", "preprocess")
    clock.wrap(ModelRunner, "predict_arrays_with_features", "forward")
    clock.wrap(services, "_ood", "ood + sketch")
    clock.wrap(ModelRunner, "sketches", "ood + sketch")
    clock.wrap(PredictionLogWriter, "submit", "log hand-off")
    clock.wrap(services.metrics, "predictions_observe", "metrics")
    clock.wrap(JSONRenderer, "render", "render")


def _writer_cpu() -> Callable[[], float]:
    """CPU seconds spent so far by the prediction log's writer thread."""
    from apps.deployments import services

    writer = services.writer
    thread = getattr(writer, "_thread", None)
    if thread is None or not thread.is_alive():
        return lambda: 0.0
    clock_id = time.pthread_getcpuclockid(thread.ident or 0)
    return lambda: time.clock_gettime(clock_id)


def _multipart(jpeg: bytes) -> tuple[bytes, str]:
    boundary = "benchboundary7e1f"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"'
            "\r\nContent-Type: image/jpeg\r\n\r\n"
        ).encode()
        + jpeg
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@contextlib.contextmanager
def _platform_environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _measure_in_process(
    env: dict[str, str], slug: str, key: str, jpeg: bytes, requests: int
) -> dict[str, Any]:
    """Call the WSGI application ``requests`` times in this process; per-component medians
    and CPU per request."""
    # As the web process runs it (platform/gunicorn.conf.py): two cores for a lone request.
    env = {"BAKEHOUSE_SERVING_THREADS": "2", **env}
    with _platform_environment(env):
        import django

        django.setup()
        from django.core.wsgi import get_wsgi_application

        from apps.deployments.serving import preload_modules, warm_up

        preload_modules()
        warm_up()
        application = get_wsgi_application()
        body, content_type = _multipart(jpeg)

        def call() -> int:
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": f"/api/v1/predict/{slug}/",
                "QUERY_STRING": "",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "REMOTE_ADDR": "127.0.0.1",
                "HTTP_HOST": "127.0.0.1",
                "HTTP_AUTHORIZATION": f"Api-Key {key}",
                "CONTENT_TYPE": content_type,
                "CONTENT_LENGTH": str(len(body)),
                "wsgi.input": io.BytesIO(body),
                "wsgi.url_scheme": "http",
                "wsgi.errors": sys.stderr,
                "wsgi.multithread": True,
                "wsgi.multiprocess": True,
                "wsgi.run_once": False,
                "wsgi.version": (1, 0),
            }
            status: list[str] = []
            start_response: Any = lambda s, h, *a: status.append(s)  # noqa: E731
            answer = application(environ, start_response)
            b"".join(answer)
            answer.close()
            return int(status[0].split()[0])

        for _ in range(20):  # warm: the sessions' first runs, caches, the writer thread
            if (code := call()) != 200:
                raise RuntimeError(f"in-process prediction answered {code}")
        from apps.deployments.services import writer

        writer.flush()
        clock = ComponentClock()
        _instrument(clock)
        writer_cpu = _writer_cpu()
        writer_before, cpu_before = writer_cpu(), time.process_time()
        request_cpu = 0.0
        for _ in range(requests):
            started, thread_started = time.perf_counter(), time.thread_time()
            code = call()
            clock.request_done((time.perf_counter() - started) * 1e3)
            request_cpu += time.thread_time() - thread_started
            if code != 200:
                raise RuntimeError(f"in-process prediction answered {code}")
            time.sleep(0.002)  # let the writer thread run between requests, as under HTTP
        writer.flush()
        cpu_total = time.process_time() - cpu_before
        figures: dict[str, Any] = {f"{k}_ms": v for k, v in clock.medians().items()}
        figures["request_thread_cpu_ms_per_request"] = round(request_cpu * 1e3 / requests, 3)
        figures["process_cpu_ms_per_request"] = round(cpu_total * 1e3 / requests, 3)
        figures["log_writer_cpu_ms_per_prediction"] = round(
            (writer_cpu() - writer_before) * 1e3 / requests, 3
        )
        return figures


def _http_floor(jpeg: bytes, requests: int) -> dict[str, float]:
    """gunicorn's own cost per request: server CPU and median latency of the HTTP floor."""
    from bench.http_floor import serve_process

    figures: dict[str, float] = {}
    with serve_process() as (url, pid):
        for clients in (1, 8):
            run_load(url, body=jpeg, requests=clients * 5, concurrency=clients,
                     multipart_field="image")  # fmt: skip
            before = process_tree_cpu_s(pid)
            result = run_load(url, body=jpeg, requests=requests, concurrency=clients,
                              multipart_field="image")  # fmt: skip
            figures[f"http_floor_c{clients}_server_cpu_ms_per_request"] = round(
                (process_tree_cpu_s(pid) - before) * 1e3 / max(1, result.ok), 3
            )
            figures[f"http_floor_c{clients}_median_ms"] = result.summary()["median_ms"]
    return figures


def _forward_side_by_side(onnx: bytes, images: int) -> dict[str, float]:
    """CPU per image of the one-thread serving session alone, and with two calls running at
    once (one per core, as under load): what the forward pass itself costs under load."""
    import numpy as np

    from apps.ml import Predictor

    predictor = Predictor.load(onnx, labels=["a", "b"], threads=1)
    batch = np.zeros((1, 3, 224, 224), dtype=np.float32)
    for _ in range(5):
        predictor.predict_arrays(batch)

    def calls(count: int) -> None:
        for _ in range(count):
            predictor.predict_arrays(batch)

    before = time.process_time()
    calls(images)
    alone = (time.process_time() - before) * 1e3 / images
    threads = [threading.Thread(target=calls, args=(images // 2,)) for _ in range(2)]
    before = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = (time.process_time() - before) * 1e3 / (2 * (images // 2))
    return {
        "forward_t1_cpu_ms_per_image_alone": round(alone, 3),
        "forward_t1_cpu_ms_per_image_two_at_once": round(together, 3),
    }


def run(args: argparse.Namespace) -> BenchResult:
    from bench.onnx_forward import sample_jpeg

    jpeg = sample_jpeg(args.data)
    metrics: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-request-path-") as tmp:
        tmp_path = Path(tmp)
        zip_path, classes = dataset_zip(args.data, tmp_path / "data.zip", per_class=args.per_class)
        live = start_platform(tmp_path / "var", extra_env={"BAKEHOUSE_EMBED_ON_INGEST": "false"})
        try:
            client, _token = live.signup()
            with client:
                project, job = trained_project(client, "Request path benchmark", classes, zip_path)
                deployment, key = deploy_with_key(client, project["id"], job["model_version"])
                wait_for_background_jobs(client, project["id"], job["model_version"])
                onnx = client.get(f"/api/v1/models/{job['model_version']}/download/?file=onnx")
                if onnx.status_code != 200:
                    raise RuntimeError(f"ONNX download failed: {onnx.status_code}")
            env = live.platform.child_env()
            # Only this process serves while it measures: the web server goes first.
            live.platform.processes["web"].stop()
            metrics.update(_measure_in_process(env, deployment["slug"], key, jpeg, args.requests))
        finally:
            live.stop()
    metrics.update(_http_floor(jpeg, args.requests))
    metrics.update(_forward_side_by_side(onnx.content, args.requests))
    return BenchResult(
        name="request_path",
        title="Where a prediction request's time goes (fp32, one request at a time)",
        params={"requests": args.requests, "per_class": args.per_class},
        metrics=metrics,
        notes=[machine_note()],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_args(parser)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--per-class", type=int, default=40)
    args = parser.parse_args(argv)
    result = run(args)
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
