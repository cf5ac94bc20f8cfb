"""Memory of a web worker: what one gunicorn worker holds before its first request.

A fresh interpreter does what a worker does after the fork (``django.setup()``, then
``apps.deployments.serving.preload_modules()``, which imports every view), then
reports its peak RSS and whether torch got imported. The median of ``--runs`` interpreters.

    .venv/bin/python -m bench.web_memory
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from bench.common import REPO_ROOT, BenchResult, add_common_args, write_result

_WORKER = """
import json, os, resource, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bakehouse.settings.test")
import django
django.setup()
from apps.deployments.serving import preload_modules
preload_modules()
print(json.dumps({
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "torch_imported": "torch" in sys.modules,
}))
"""


def run(args: argparse.Namespace) -> BenchResult:
    samples = []
    for _ in range(1 if args.quick else args.runs):
        done = subprocess.run(
            [sys.executable, "-c", _WORKER],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        samples.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return BenchResult(
        name="web_memory" + ("_quick" if args.quick else ""),
        title="Web worker memory before its first request",
        params={"runs": len(samples)},
        metrics={
            "web_worker_peak_rss_mb": round(statistics.median(s["peak_rss_mb"] for s in samples)),
            "torch_imported": any(s["torch_imported"] for s in samples),
        },
        notes=[
            "One interpreter per run: django.setup(), apps.deployments.serving."
            "preload_modules() (every view and the serving stack); peak RSS from getrusage. The "
            "deployed models a worker loads come on top."
        ],
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser, dataset=False)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    result = run(args)
    write_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
