"""Prometheus metrics of the web and worker processes, served at ``/metrics``.

Several processes (gunicorn's web workers, Celery's pool processes) each count their own
requests and jobs, so the counts are kept in prometheus_client's **multiprocess mode**: when
``PROMETHEUS_MULTIPROC_DIR`` is set in a process's environment (``apps.core.processes``
sets it, to ``var/run/prometheus/``, for every process ``manage.py up`` starts, and empties
it at start), each process writes its values to small memory-mapped files there, and one
scrape of any web process's ``/metrics`` adds them all up: web and worker metrics in one
answer. Files are named by host name and process id (not the process id alone), so
containers that share the folder (docker-compose.yml mounts it on the shared ``var``
volume for web and workers alike) never write each other's files, although each numbers
its processes from 1. Without the variable (tests, ``runserver``) the metrics are this
process's own.

What is counted (labels in brackets)::

    bakehouse_http_requests_total [view, method, status]     every request (middleware)
    bakehouse_http_request_duration_seconds [view]           its latency
    bakehouse_predictions_total [deployment, label]          every image predicted
    bakehouse_prediction_duration_seconds [deployment]       a prediction request's model time
    bakehouse_jobs_started_total [kind]                      apps.core.jobs.job_claim
    bakehouse_jobs_finished_total [kind, status]             job_finish and lost jobs that fail
    bakehouse_queue_length [queue]                           read from the broker when scraped
    bakehouse_broker_up                                      whether that read worked

``/metrics`` is closed unless ``BAKEHOUSE_METRICS_TOKEN`` is set (404), and then answers
only a request with ``Authorization: Bearer <token>`` (401 otherwise): the figures name
deployments and labels, and the endpoint must not be a free probe of the broker.

Counting costs a few microseconds per request (see tests/core/test_metrics.py's
measurement); nothing here touches the database or the network on the request path.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_multiproc_dir = os.environ.get(MULTIPROC_ENV)
if _multiproc_dir:
    os.makedirs(_multiproc_dir, exist_ok=True)
    _HOST = socket.gethostname().replace("_", "-")  # "_" separates the file name's parts
    # Before any metric is made: every value made afterwards uses this class.
    values.ValueClass = values.MultiProcessValue(
        process_identifier=lambda: f"{_HOST}-{os.getpid()}"
    )

# Web requests take milliseconds (predictions) to seconds (uploads).
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_PREDICTION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

HTTP_REQUESTS = Counter(
    "bakehouse_http_requests",
    "HTTP requests answered, by view, method and status.",
    ["view", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "bakehouse_http_request_duration_seconds",
    "Time to answer an HTTP request, by view.",
    ["view"],
    buckets=_REQUEST_BUCKETS,
)
PREDICTIONS = Counter(
    "bakehouse_predictions",
    "Images predicted, by deployment and predicted label.",
    ["deployment", "label"],
)
PREDICTION_LATENCY = Histogram(
    "bakehouse_prediction_duration_seconds",
    "Time a prediction request spent decoding and in the model, by deployment.",
    ["deployment"],
    buckets=_PREDICTION_BUCKETS,
)
JOBS_STARTED = Counter(
    "bakehouse_jobs_started", "Background job attempts started, by kind.", ["kind"]
)
JOBS_FINISHED = Counter(
    "bakehouse_jobs_finished",
    "Background jobs finished, by kind and status (succeeded, failed, cancelled).",
    ["kind", "status"],
)


# --- Counting (cheap; called on the request path) --------------------------------------------


# ``Metric.labels()`` validates and looks its child up under a lock on every call; the
# children are cached here instead (the label values are bounded: URL names, deployments,
# labels), which halves the cost per request. In multiprocess mode a child notices a fork
# by itself (prometheus_client checks the process id), so the cache is safe across forks.
@functools.lru_cache(maxsize=8192)
def _http_children(view: str, method: str, status: int) -> tuple[Any, Any]:
    return HTTP_REQUESTS.labels(view, method, str(status)), HTTP_LATENCY.labels(view)


@functools.lru_cache(maxsize=8192)
def _prediction_child(deployment: str, label: str) -> Any:
    return PREDICTIONS.labels(deployment, label)


@functools.lru_cache(maxsize=1024)
def _prediction_latency_child(deployment: str) -> Any:
    return PREDICTION_LATENCY.labels(deployment)


def request_observe(*, view: str, method: str, status: int, seconds: float) -> None:
    count, latency = _http_children(view, method, status)
    count.inc()
    latency.observe(seconds)


def predictions_observe(*, deployment: str, labels: Iterable[str], seconds: float) -> None:
    """One prediction request of ``deployment``: the label of each image, and its time."""
    for label in labels:
        _prediction_child(deployment, label).inc()
    _prediction_latency_child(deployment).observe(seconds)


def job_started(kind: str) -> None:
    JOBS_STARTED.labels(kind).inc()


def job_finished(kind: str, status: str) -> None:
    JOBS_FINISHED.labels(kind, status).inc()


# --- Scraping ------------------------------------------------------------------------------


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each declared Celery queue, read from the broker (Redis keeps a
    queue as a list named after it, plus one list per priority step). Raises when the broker
    does not answer."""
    from django.conf import settings

    from bakehouse.celery import app

    names = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    lengths: dict[str, int] = {}
    with app.connection_for_read() as connection:
        # One try, a short time-out: a scrape must not hang on a broker that is down.
        connection.ensure_connection(max_retries=1, timeout=2.0)
        channel: Any = connection.default_channel
        client = channel.client
        for name in names:
            keys = [channel._q_for_pri(name, pri) for pri in channel.priority_steps]
            lengths[name] = sum(int(client.llen(key)) for key in dict.fromkeys(keys))
    return lengths


class QueueCollector:
    """Reads the queue lengths when Prometheus scrapes (never on the request path)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("bakehouse_broker_up", "Whether the broker answered this scrape.")
        queues = GaugeMetricFamily(
            "bakehouse_queue_length", "Messages waiting in a Celery queue.", labels=["queue"]
        )
        try:
            lengths = queue_lengths()
        except Exception as exc:  # noqa: BLE001 - a scrape reports the broker down, never fails
            logger.warning("metrics: could not read the queue lengths: %r", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for name, length in sorted(lengths.items()):
            queues.add_metric([name], length)
        yield up
        yield queues

    def describe(self) -> list[Metric]:
        return []  # collected at scrape time only (no broker call when registering)


def metrics_text() -> bytes:
    """Every process's metrics (multiprocess mode) or this process's, and the queues."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        registry.register(QueueCollector())
        return generate_latest(registry)
    registry = CollectorRegistry()
    registry.register(QueueCollector())
    return generate_latest(REGISTRY) + generate_latest(registry)


def token_allows(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant time)."""
    scheme, _, given = authorization.partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


# --- The request path and the endpoint ------------------------------------------------------


class MetricsMiddleware:
    """Counts every request by the view that answered it (its URL name: a bounded set, never
    the raw path, so a scan of random URLs cannot grow the label space) and its status."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or "unnamed") if match is not None else "unresolved"
        request_observe(
            view=view,
            method=request.method if request.method in _METHODS else "other",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``/metrics`` for Prometheus: 404 unless BAKEHOUSE_METRICS_TOKEN is set, 401 without
    ``Authorization: Bearer <that token>``."""
    from django.conf import settings

    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("Not found.")
    if not token_allows(request.headers.get("Authorization", ""), token):
        response = HttpResponse(
            "A bearer token is needed.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)


__all__ = [
    "MetricsMiddleware",
    "metrics_view",
    "CONTENT_TYPE_LATEST",
    "job_finished",
    "job_started",
    "metrics_text",
    "predictions_observe",
    "queue_lengths",
    "request_observe",
    "token_allows",
]
