"""Gunicorn settings for the web process (embedded stack and containers alike).

The command line (apps/core/processes.py, docker-compose.yml) sets bind/workers/threads.

Serving models: the master imports Django once (``preload_app``) and forks the workers; each
worker imports the serving stack and loads the active deployments' models right after the
fork (``post_fork``), before it takes any request; at exit a worker writes its queued
prediction log entries (``worker_exit``) and leaves without the interpreter's slow teardown.
"""

import os

# Cores the prediction API may use per web worker (settings.SERVING_THREADS): two, so that a
# request alone on the machine runs the model on both cores; while other predictions are
# being served, each call takes one core, up to two calls at once
# (apps.deployments.serving.runner.ModelRunner). Measured on 2 cores: a lone request's
# forward pass takes 3.4 ms on two threads against 6.0 ms on one, while under load one
# thread per call spends the least CPU per image (README, Performance). Set it explicitly
# to override.
os.environ.setdefault("BAKEHOUSE_SERVING_THREADS", "2")

wsgi_app = "bakehouse.wsgi:application"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 120
# Request limits at the server, before Django sees anything: the request line, the number
# of header fields and each field's size (a hostile client cannot make a worker buffer
# megabytes of headers). Bodies are bounded by Django: DATA_UPLOAD_MAX_MEMORY_SIZE for forms,
# BAKEHOUSE_API_MAX_JSON_BYTES for JSON, the upload and prediction byte limits for files.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
graceful_timeout = 20
keepalive = 5
# Requests are logged by Django where needed; the access log costs latency on the predict path.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Import the app once in the master, then fork: workers share the loaded code pages.
preload_app = True


def post_fork(server, worker):
    # In the new worker, before its first request: import the serving stack (ONNX Runtime,
    # every view; never torch, see tests/core/test_imports.py) and load the active
    # deployments' models, so no request pays for either. Not in the master: ONNX Runtime
    # imported before the fork makes the workers abort when they exit.
    try:
        from apps.deployments.serving import preload_modules, warm_up

        preload_modules()
        loaded = warm_up()
        if loaded:
            server.log.info("worker %s loaded model versions %s", worker.pid, loaded)
    except Exception:
        server.log.exception("model warm-up failed in worker %s", worker.pid)


def worker_exit(server, worker):
    # Write the prediction log entries this worker still holds, then leave at once. The
    # master calls this hook too, for a worker that vanished: nothing to do there.
    if os.getpid() != worker.pid:
        return
    try:
        from apps.deployments.prediction_log import writer

        writer.shutdown()
    except Exception:
        server.log.exception("could not flush the prediction log in worker %s", worker.pid)
    _exit_now()


def _exit_now():
    """End the worker without the interpreter's teardown.

    Everything a worker must do before it goes is done by now (requests answered, the
    prediction log written, gunicorn's own clean-up, which runs before this hook). Tearing
    down the extension modules one by one took seconds per worker (over 8 s for two, with
    torch loaded, on a busy 2-core machine), long enough for the supervisor to give up and
    kill the web process. The exit status gunicorn chose is kept: the master reads it to tell a worker
    that failed to boot from one that stopped.
    """
    import logging
    import sys

    exc = sys.exc_info()[1]
    code = exc.code if isinstance(exc, SystemExit) else (1 if exc is not None else 0)
    if not isinstance(code, int):
        code = 0 if code is None else 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
