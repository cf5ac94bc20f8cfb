"""Small helpers shared by every benchmark script: timing, memory, machine facts, result files.

Each benchmark builds a ``BenchResult`` (a name, the parameters it ran with, and flat metrics) and
calls ``write_result`` to store ``<name>.json`` and ``<name>.md`` side by side in ``bench/results/``
(or ``--out DIR``). The Markdown file is a two-column table so the lead can paste rows into the
README; the JSON keeps every figure plus the machine it was measured on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS_DIR = REPO_ROOT / "bench" / "results"
DEFAULT_DATASET = REPO_ROOT.parent / "shared" / "datasets" / "hymenoptera"


@dataclass
class BenchResult:
    """One benchmark's outcome: flat ``metrics`` (name -> number) and the ``params`` it ran with."""

    name: str
    title: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=lambda: machine_info())
    measured_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )


# ---------------------------------------------------------------------------------------- timing


def percentile(samples: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (numpy's default method), without importing numpy."""
    if not samples:
        raise ValueError("percentile() needs at least one sample")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * pct / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float], prefix: str = "") -> dict[str, float]:
    """Median / p95 / p99 / mean / min / max of durations given in seconds, reported in ms."""
    ms = [s * 1000.0 for s in seconds]
    summary = {
        "n": len(ms),
        "median_ms": statistics.median(ms),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "mean_ms": statistics.fmean(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
    }
    return {f"{prefix}{key}": round(value, 3) for key, value in summary.items()}


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """``with stopwatch() as t: ...`` then ``t["s"]`` holds the elapsed wall time in seconds."""
    box = {"s": 0.0}
    start = time.perf_counter()
    try:
        yield box
    finally:
        box["s"] = time.perf_counter() - start


def time_calls(fn: Any, *, runs: int, warmup: int = 0) -> list[float]:
    """Call ``fn()`` ``warmup`` times untimed, then ``runs`` times; return each call's seconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


# ---------------------------------------------------------------------------------------- memory


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory of this process and of its finished children (e.g. DataLoader workers).

    ``ru_maxrss`` is in KiB on Linux and bytes on macOS. The children figure is the largest single
    child that has been waited for, not a sum.
    """
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale
    return {
        "peak_rss_mb": round(own / 2**20, 1),
        "peak_rss_children_mb": round(children / 2**20, 1),
    }


def process_tree_rss_mb(pid: int) -> float:
    """Current resident memory of a running process and all its descendants (a server under load)."""
    import psutil

    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return round(total / 2**20, 1)


def process_tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a running process and its descendants.

    Take it before and after a load: the difference over the requests answered is the CPU a
    server spends per request. (A descendant that exits in between takes its share along.)
    """
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def own_cpu_s() -> float:
    """CPU seconds used so far by this process (every thread): the load generator's share."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------- context


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    with suppress(OSError):
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    for module in ("torch", "onnxruntime"):
        mod = sys.modules.get(module)
        if mod is not None:
            info[module] = getattr(mod, "__version__", "?")
    return info


def add_common_args(parser: argparse.ArgumentParser, *, dataset: bool = True) -> None:
    """The flags every benchmark accepts: ``--out``, ``--quick`` and (optionally) ``--data``."""
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_RESULTS_DIR,
        help=f"folder for the JSON and Markdown results (default: {DEFAULT_RESULTS_DIR})",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short smoke run: tiny data, few iterations"
    )
    if dataset:
        parser.add_argument(
            "--data",
            type=Path,
            default=DEFAULT_DATASET,
            help="folder-per-class data set with train/ and val/ (default: %(default)s)",
        )


def split_dirs(root: Path) -> tuple[Path, Path]:
    """``root/train`` and ``root/val`` of a folder-per-class data set, or a clear error."""
    train, val = root / "train", root / "val"
    for part in (train, val):
        if not part.is_dir():
            raise SystemExit(f"{part} is missing: expected a data set with train/ and val/ folders")
    return train, val


# ---------------------------------------------------------------------------------------- output


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.01:
            return f"{value:.3g}"
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.1f}"
    return str(value)


def to_markdown(result: BenchResult) -> str:
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in result.params.items())
    lines = [
        f"### {result.title}",
        "",
        f"`{result.name}` measured {result.measured_at} on {result.machine.get('cpu_count')} CPUs"
        + (f" ({params})" if params else ""),
        "",
        "| metric | value |",
        "| --- | --- |",
    ]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in result.metrics.items()]
    if result.notes:
        lines += ["", *[f"- {note}" for note in result.notes]]
    return "\n".join(lines) + "\n"


def write_result(result: BenchResult, out_dir: Path = DEFAULT_RESULTS_DIR) -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.md`` into ``out_dir``; print the Markdown; return paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{result.name}.json"
    md_path = out_dir / f"{result.name}.md"
    json_path.write_text(json.dumps(asdict(result), indent=2) + "\n")
    markdown = to_markdown(result)
    md_path.write_text(markdown)
    print(markdown)
    return json_path, md_path
