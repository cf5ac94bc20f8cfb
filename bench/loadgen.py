"""Closed-loop HTTP load generator for prediction endpoints on this machine.

``concurrency`` async httpx clients each send a request, wait for the answer, and send the next,
until ``requests`` have been sent or ``max_seconds`` have passed. Only loopback targets are
accepted: this measures a local server side by side with another, never a remote one. The client
runs on the same cores as the server, which is part of what a 2-core measurement means.

    .venv/bin/python -m bench.loadgen URL --jpeg photo.jpg [-n 200] [-c 8] \\
        [--header "Authorization: Api-Key KEY"] [--multipart image]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.common import latency_summary


@dataclass
class LoadResult:
    latencies_s: list[float]  # successful (2xx) requests only
    errors: int
    wall_s: float
    status_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.latencies_s)

    @property
    def throughput_rps(self) -> float:
        return self.ok / self.wall_s if self.wall_s else 0.0

    def summary(self, prefix: str = "") -> dict[str, float]:
        figures = latency_summary(self.latencies_s, prefix) if self.latencies_s else {}
        return {
            **figures,
            f"{prefix}errors": self.errors,
            f"{prefix}throughput_rps": round(self.throughput_rps, 2),
            f"{prefix}wall_s": round(self.wall_s, 2),
        }


def check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise ValueError(f"loadgen only targets this machine (127.0.0.1/localhost), not {host!r}")


async def _load(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    requests: int,
    concurrency: int,
    max_seconds: float,
    multipart_field: str | None,
    content_type: str,
    timeout_s: float,
) -> LoadResult:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    issued = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(limits=limits, timeout=timeout_s) as client:
        started = time.perf_counter()
        deadline = started + max_seconds

        async def worker() -> None:
            nonlocal issued
            while issued < requests and time.perf_counter() < deadline:
                issued += 1  # single-threaded event loop: no lock needed
                if multipart_field:
                    kwargs = {
                        "files": {multipart_field: ("image.jpg", body, content_type)},
                        "headers": headers,
                    }
                else:
                    kwargs = {"content": body, "headers": {"Content-Type": content_type, **headers}}
                sent = time.perf_counter()
                try:
                    response = await client.post(url, **kwargs)
                    await response.aread()
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                    continue
                elapsed = time.perf_counter() - sent
                statuses[str(response.status_code)] += 1
                if response.is_success:
                    latencies.append(elapsed)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started

    errors = sum(n for status, n in statuses.items() if not status.startswith("2"))
    return LoadResult(latencies, errors, wall, dict(statuses))


def run_load(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str] | None = None,
    requests: int = 200,
    concurrency: int = 1,
    max_seconds: float = 60.0,
    warmup: int = 0,
    multipart_field: str | None = None,
    content_type: str = "image/jpeg",
    timeout_s: float = 30.0,
) -> LoadResult:
    """Send ``requests`` POSTs (raw body, or multipart under ``multipart_field``) with
    ``concurrency`` closed-loop clients, after ``warmup`` untimed sequential ones."""
    check_loopback(url)
    if requests < 1 or concurrency < 1:
        raise ValueError("requests and concurrency must be at least 1")
    common = {
        "body": body,
        "headers": headers or {},
        "max_seconds": max_seconds,
        "multipart_field": multipart_field,
        "content_type": content_type,
        "timeout_s": timeout_s,
    }
    if warmup:
        asyncio.run(_load(url, requests=warmup, concurrency=1, **common))
    return asyncio.run(_load(url, requests=requests, concurrency=concurrency, **common))


def main(argv: list[str] | None = None) -> LoadResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--jpeg", type=Path, required=True, help="file sent as the request body")
    parser.add_argument("-n", "--requests", type=int, default=200)
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--header", action="append", default=[], help='"Name: value"')
    parser.add_argument("--multipart", metavar="FIELD", help="send as multipart under FIELD")
    args = parser.parse_args(argv)
    headers = dict(h.split(":", 1) for h in args.header)
    result = run_load(
        args.url,
        body=args.jpeg.read_bytes(),
        headers={k.strip(): v.strip() for k, v in headers.items()},
        requests=args.requests,
        concurrency=args.concurrency,
        max_seconds=args.max_seconds,
        warmup=args.warmup,
        multipart_field=args.multipart,
    )
    for key, value in {**result.summary(), "statuses": result.status_counts}.items():
        print(f"{key}: {value}")
    return result


if __name__ == "__main__":
    main()
