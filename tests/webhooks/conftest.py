"""A webhook receiver on 127.0.0.1 that records every POST and answers from a script."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.factories import ProjectFactory
from tests.local_http import allow_local


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    # Status codes answered in turn; once used up, 200 ...
    script: list[int] = field(default_factory=list)
    # ... except that the first ``fail_each_event`` tries of each event (by its
    # X-Bakehouse-Delivery id) are answered 500.
    fail_each_event: int = 0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def receiver_running(
    script: list[int] | None = None, *, fail_each_event: int = 0
) -> Iterator[Receiver]:
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            receiver = state["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            event = self.headers.get("X-Bakehouse-Delivery", "")
            with receiver.lock:
                tries = sum(
                    1 for r in receiver.received if r.headers.get("X-Bakehouse-Delivery") == event
                )
                code = receiver.script.pop(0) if receiver.script else 200
                if tries < receiver.fail_each_event:
                    code = 500
                receiver.received.append(Received(dict(self.headers.items()), body, code))
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state["receiver"] = Receiver(
        url=f"http://127.0.0.1:{httpd.server_address[1]}/hook",
        script=list(script or []),
        fail_each_event=fail_each_event,
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def project(user):
    return ProjectFactory(owner=user, labels=["ants", "bees"])


@pytest.fixture
def local(settings):
    """Receivers on 127.0.0.1 allowed, retries without waiting."""
    allow_local(settings)
    settings.WEBHOOK_BACKOFF_SECONDS = 0
    settings.WEBHOOK_TIMEOUT = 5
    return settings
