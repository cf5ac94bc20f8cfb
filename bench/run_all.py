"""Run every platform benchmark (what ``make bench`` runs) and write ``bench/results/latest.*``.

Each benchmark runs in its own Python process, one after the other (they start servers and
must not compete for the cores): training, predict, ingest, scale. Their own result files
(``<name>.json``/``.md``) land in ``--out``; then ``latest.json`` (every result, keyed by
benchmark) and ``latest.md`` (a headline table plus each benchmark's full table) are written
and the headline table is printed. ``--only NAME`` (repeatable) runs some of them and keeps
the other benchmarks' entries of an existing ``latest.json``. ``--quick`` is a short smoke
run; it writes ``latest_quick.*`` so it never replaces the full figures.

    .venv/bin/python -m bench.run_all [--quick] [--only training --only predict]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_RESULTS_DIR, REPO_ROOT, _fmt

BENCHES = {
    "training": "bench.bench_training",
    "predict": "bench.bench_predict",
    "ingest": "bench.bench_ingest",
    "scale": "bench.bench_scale",
    "web_memory": "bench.web_memory",
}

# (benchmark, metric, what it is) for the headline table.
HEADLINES = [
    ("web_memory", "web_worker_peak_rss_mb", "web worker before its first request, peak RSS (MB)"),
    ("training", "quick_warm_val_accuracy_pct", "quick mode accuracy on val/ (%)"),
    (
        "training",
        "quick_warm_click_to_ready_s",
        "quick mode, embeddings cached: train -> ready (s)",
    ),
    ("training", "quick_cold_click_to_ready_s", "quick mode, cold: train -> ready (s)"),
    ("training", "quick_cold_worker_peak_rss_mb", "quick mode, training worker peak RSS (MB)"),
    ("training", "ref_linear_probe_val_accuracy_pct", "reference linear probe accuracy (%)"),
    ("training", "ref_linear_probe_wall_s", "reference linear probe wall time (s)"),
    ("training", "finetune_val_accuracy_pct", "finetune mode accuracy on val/ (%)"),
    ("training", "finetune_click_to_ready_s", "finetune mode: train -> ready (s)"),
    ("training", "finetune_minus_quick_accuracy_pts", "finetune minus quick (points)"),
    ("training", "ref_finetune_best_val_accuracy_pct", "reference fine-tune best accuracy (%)"),
    ("training", "ref_finetune_wall_s", "reference fine-tune wall time (s)"),
    ("predict", "bakehouse_c1_median_ms", "predict API, 1 client, median (ms)"),
    ("predict", "torchserve_c1_median_ms", "TorchServe, 1 client, median (ms)"),
    ("predict", "bare_ort_t2_median_ms", "bare ONNX Runtime in-process, median (ms)"),
    ("predict", "ratio_bakehouse_over_bare_ort_c1_median", "predict API / bare ORT (median)"),
    ("predict", "ratio_bakehouse_over_torchserve_c1_median", "predict API / TorchServe (median)"),
    ("predict", "bakehouse_c8_throughput_rps", "predict API, 8 clients (req/s)"),
    ("predict", "torchserve_c8_throughput_rps", "TorchServe, 8 clients (req/s)"),
    ("predict", "ratio_throughput_bakehouse_over_torchserve_c8", "throughput ratio, 8 clients"),
    ("predict", "bakehouse_c32_throughput_rps", "predict API, 32 clients (req/s)"),
    ("predict", "torchserve_c32_throughput_rps", "TorchServe, 32 clients (req/s)"),
    ("ingest", "single_file_images_per_s", "single-file uploads (images/s)"),
    ("ingest", "multi_file_images_per_s", "multi-file uploads, 10 per request (images/s)"),
    ("ingest", "zip_images_per_s", "zip import (images/s)"),
    ("scale", "list_first_page_median_ms", "image list, first page (ms)"),
    ("scale", "filter_label_median_ms", "image list filtered by label (ms)"),
    ("scale", "filter_unlabeled_median_ms", "image list, unlabeled (ms)"),
    ("scale", "filter_split_val_median_ms", "image list, split=val (ms)"),
    ("scale", "stats_median_ms", "dataset stats (ms)"),
    ("scale", "project_list_median_ms", "project list (ms)"),
]


def _result_name(bench: str, quick: bool) -> str:
    return bench + ("_quick" if quick else "")


def headline_table(results: dict[str, Any]) -> str:
    lines = ["| benchmark | figure | value |", "| --- | --- | --- |"]
    for bench, metric, label in HEADLINES:
        value = (results.get(bench) or {}).get("metrics", {}).get(metric)
        if value is not None:
            lines.append(f"| {bench} | {label} | {_fmt(value)} |")
    targets = [
        (bench, key, value)
        for bench, result in results.items()
        for key, value in (result or {}).get("metrics", {}).items()
        if key.startswith("target_")
    ]
    for bench, key, value in targets:
        lines.append(f"| {bench} | {key.removeprefix('target_').replace('_', ' ')} | {value} |")
    return "\n".join(lines) + "\n"


def machine_header() -> str:
    from bench.platform_run import machine_facts

    facts = machine_facts()
    return (
        f"Measured {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} on {facts['cores']} cores "
        f"({facts['cpu_model']}), {facts['ram_gb']} GB RAM, Python {sys.version.split()[0]}."
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS_DIR)
    parser.add_argument("--quick", action="store_true", help="short smoke run of every benchmark")
    parser.add_argument(
        "--only", action="append", choices=sorted(BENCHES), help="run only this one (repeatable)"
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: rebuild latest.* from the result files already in --out",
    )
    args = parser.parse_args(argv)
    chosen = args.only or list(BENCHES)
    args.out.mkdir(parents=True, exist_ok=True)
    latest_name = "latest_quick" if args.quick else "latest"
    latest_json = args.out / f"{latest_name}.json"
    results: dict[str, Any] = {}
    if latest_json.exists():
        results = json.loads(latest_json.read_text()).get("results", {})

    failures: dict[str, str] = {}
    for bench in chosen:
        path = args.out / f"{_result_name(bench, args.quick)}.json"
        if args.collect:
            if path.exists():
                results[bench] = json.loads(path.read_text())
            continue
        command = [sys.executable, "-m", BENCHES[bench], "--out", str(args.out)]
        if args.quick:
            command.append("--quick")
        print(f"\n=== {bench}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        finished = subprocess.run(command, cwd=REPO_ROOT, check=False)
        print(
            f"=== {bench}: exit {finished.returncode} after {time.perf_counter() - started:.0f} s"
        )
        if finished.returncode == 0 and path.exists():
            results[bench] = json.loads(path.read_text())
        else:
            failures[bench] = f"exit code {finished.returncode}"

    header = machine_header()
    latest_json.write_text(
        json.dumps({"header": header, "results": results, "failures": failures}, indent=2) + "\n"
    )
    table = headline_table(results)
    sections = [
        "# Bakehouse benchmarks" + (" (quick smoke run)" if args.quick else ""),
        "",
        header,
        "",
        "Command: `make bench` (`.venv/bin/python -m bench.run_all"
        + (" --quick" if args.quick else "")
        + "`).",
        "",
        "## Headline figures",
        "",
        table,
    ]
    for bench in BENCHES:
        md = args.out / f"{_result_name(bench, args.quick)}.md"
        if bench in results and md.exists():
            sections += ["", md.read_text()]
    if failures:
        sections += ["", "Failed: " + ", ".join(f"{k} ({v})" for k, v in failures.items())]
    (args.out / f"{latest_name}.md").write_text("\n".join(sections) + "\n")
    print("\n" + header + "\n\n" + table)
    if failures:
        print("Failed:", failures)
        raise SystemExit(1)
    return results


if __name__ == "__main__":
    main()
