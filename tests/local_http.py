"""A small HTTP server on 127.0.0.1 for tests that fetch URLs (imports, the prediction
API's {"url"} input, apps.core.fetch). The fetcher refuses loopback addresses, so a test
using it puts 127.0.0.1 in ``settings.URL_ALLOWLIST`` (the ``allow_local`` helper)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


def send(
    status: int, body: bytes = b"", content_type: str = "image/jpeg", *, length: bool = True
) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        if length:
            handler.send_header("Content-Length", str(len(body)))
        else:
            handler.send_header("Connection", "close")
        handler.end_headers()
        for start in range(0, len(body), 8192):
            handler.wfile.write(body[start : start + 8192])

    return route


def redirect(location: str, status: int = 302) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return route


def drip(*, every: float, total: float, in_headers: bool = False) -> Route:
    """Answer one byte every ``every`` seconds for ``total`` seconds (in the headers or in
    the body): each read is quick, so only a whole-request deadline stops it."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        end = time.monotonic() + total
        if in_headers:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
            while time.monotonic() < end:
                handler.wfile.write(b"X-Slow: a\r\n")
                handler.wfile.flush()
                time.sleep(every)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        while time.monotonic() < end:
            handler.wfile.write(b"x")
            handler.wfile.flush()
            time.sleep(every)

    return route


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Route] = {}
    seen: list[str] = []

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(self.path)
        route = self.routes.get(self.path.split("?", 1)[0], send(404, b"not found", "text/plain"))
        # The client hangs up on purpose (too big, too slow).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self)


class LocalServer:
    def __init__(self, routes: dict[str, Route]) -> None:
        handler = type("Handler", (_Handler,), {"routes": dict(routes), "seen": []})
        self.handler = handler
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"

    @property
    def seen(self) -> list[str]:
        return self.handler.seen

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@contextlib.contextmanager
def local_server(routes: dict[str, Route]) -> Iterator[LocalServer]:
    server = LocalServer(routes)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


def allow_local(settings) -> None:
    """Let apps.core.fetch reach the local test server (pytest-django ``settings``)."""
    settings.URL_ALLOWLIST = ["127.0.0.1"]
