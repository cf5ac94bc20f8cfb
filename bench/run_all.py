"""Run every platform benchmark (what ``make bench`` runs) and write ``bench/results/latest.*``.

Each benchmark runs in its own Python process, one after the other (they start servers and
must not compete for the cores): training, predict, ingest, scale. Their own result files
(``<name>.json``/``.md``) land in ``--out``; then ``latest.json`` (every result, keyed by
benchmark) and ``latest.md`` (a headline table plus each benchmark's full table) are written
and the headline table is printed. ``--only NAME`` (repeatable) runs some of them and keeps
the other benchmarks' entries of an existing ``latest.json``. ``--quick`` is a short smoke
run; it writes ``latest_quick.*`` so it never replaces the full figures. ``--rounds N`` runs
every benchmark N times (round by round, so the rounds spread over the run) and reports the
median of each figure, with the headline figures' per-round values; ``make bench`` uses 3.

    .venv/bin/python -m bench.run_all [--quick] [--rounds 3] [--only training --only predict]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_RESULTS_DIR, REPO_ROOT, BenchResult, _fmt, write_result

BENCHES = {
    "training": "bench.bench_training",
    "predict": "bench.bench_predict",
    "ingest": "bench.bench_ingest",
    "scale": "bench.bench_scale",
    "web_memory": "bench.web_memory",
    "health": "bench.bench_health",
    "embed_scale": "bench.bench_embed_scale",
    "faults": "bench.faults",
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
    ("predict", "bare_ort_forward_t2_median_ms", "bare ONNX Runtime forward, 2 threads (ms)"),
    ("predict", "bare_ort_t2_median_ms", "bare ORT decode + preprocess + forward (ms)"),
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
    ("health", "label_issues_recall_median", "label issues at 5 % flips: recall"),
    ("health", "label_issues_precision_median", "label issues at 5 % flips: precision"),
    ("health", "duplicates_found_share", "near-duplicate copies found (share)"),
    ("health", "duplicates_false_share", "flagged pairs that are not copies (share)"),
    ("health", "strangers_flagged_share", "unrelated photos flagged as strangers (share)"),
    ("health", "in_distribution_val_flagged_share", "val photos flagged as strangers (share)"),
    ("health", "cost_10k_total_s", "data-health analysis of 10,000 embeddings (s)"),
    ("embed_scale", "p1_embedding_images_per_s", "embedding an upload, 1 worker process (img/s)"),
    ("embed_scale", "p2_embedding_images_per_s", "embedding an upload, 2 worker processes (img/s)"),
    ("embed_scale", "ratio_embedding_images_per_s_2_over_1", "embedding, 2 processes / 1"),
    ("faults", "kill_restart_to_running_again_s", "killed training worker: restart -> running (s)"),
    ("faults", "kill_predict_failed", "killed training worker: failed prediction requests"),
    ("faults", "frozen_click_answer_s", "Redis stopped: Train click answered in (s)"),
]


def _result_name(bench: str, quick: bool) -> str:
    return bench + ("_quick" if quick else "")


def combine_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One benchmark's results from several rounds -> one result: the median of each numeric
    figure (its per-round values kept as ``<figure>_rounds`` for the headline figures), lists
    joined, and a target reported as met in k of N rounds when the rounds disagree."""
    if len(rounds) == 1:
        return rounds[0]
    headline = {metric for _, metric, _ in HEADLINES}
    combined = dict(rounds[-1])
    metrics: dict[str, Any] = {}
    for key in rounds[0].get("metrics", {}):
        values = [r["metrics"].get(key) for r in rounds if key in r.get("metrics", {})]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values):
            if all(isinstance(v, int) for v in numbers):  # counts stay whole numbers
                metrics[key] = statistics.median_low(numbers)
            else:
                metrics[key] = round(statistics.median(numbers), 3)
            if key in headline:
                metrics[f"{key}_rounds"] = numbers
        elif all(isinstance(v, list) for v in values):
            metrics[key] = [item for v in values for item in v]
        elif len(set(map(str, values))) == 1:
            metrics[key] = values[0]
        elif key.startswith("target_"):
            met = sum(v == "met" for v in values)
            metrics[key] = f"met in {met} of {len(values)} rounds"
        else:
            metrics[key] = " / ".join(map(str, values))
    combined["metrics"] = metrics
    combined["notes"] = [
        f"Median of {len(rounds)} rounds; each round ran every benchmark once, one after the "
        "other, so the rounds are spread over the whole run.",
        *combined.get("notes", []),
    ]
    combined["params"] = {**combined.get("params", {}), "rounds": len(rounds)}
    return combined


def headline_table(results: dict[str, Any]) -> str:
    lines = ["| benchmark | figure | median (each round) |", "| --- | --- | --- |"]
    for bench, metric, label in HEADLINES:
        metrics = (results.get(bench) or {}).get("metrics", {})
        value = metrics.get(metric)
        if value is not None:
            per_round = metrics.get(f"{metric}_rounds")
            spread = f" ({', '.join(_fmt(v) for v in per_round)})" if per_round else ""
            lines.append(f"| {bench} | {label} | {_fmt(value)}{spread} |")
    targets = [
        (bench, key, value)
        for bench, result in results.items()
        for key, value in (result or {}).get("metrics", {}).items()
        if key.startswith("target_")
    ]
    for bench, key, value in targets:
        lines.append(f"| {bench} | {key.removeprefix('target_').replace('_', ' ')} | {value} |")
    return "\n".join(lines) + "\n"


def _result_fields(result: dict[str, Any]) -> dict[str, Any]:
    fields = {f.name for f in dataclasses.fields(BenchResult)}
    return {key: value for key, value in result.items() if key in fields}


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
        "--rounds",
        type=int,
        default=1,
        help="run every benchmark this many times and report medians (make bench: 3)",
    )
    parser.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: rebuild latest.* from the result files already in --out",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    chosen = args.only or list(BENCHES)
    args.out.mkdir(parents=True, exist_ok=True)
    latest_name = "latest_quick" if args.quick else "latest"
    latest_json = args.out / f"{latest_name}.json"
    results: dict[str, Any] = {}
    if latest_json.exists():
        results = json.loads(latest_json.read_text()).get("results", {})

    failures: dict[str, str] = {}
    rounds: dict[str, list[dict[str, Any]]] = {bench: [] for bench in chosen}
    for round_number in range(1, (1 if args.collect else args.rounds) + 1):
        for bench in chosen:
            path = args.out / f"{_result_name(bench, args.quick)}.json"
            if args.collect:
                if path.exists():
                    results[bench] = json.loads(path.read_text())
                continue
            # With several rounds each one writes into a folder of its own; the combined
            # result then lands in --out under the usual name.
            out = args.out if args.rounds == 1 else args.out / "rounds" / str(round_number)
            command = [sys.executable, "-m", BENCHES[bench], "--out", str(out)]
            if args.quick:
                command.append("--quick")
            print(f"\n=== round {round_number}, {bench}: {' '.join(command[1:])}", flush=True)
            started = time.perf_counter()
            finished = subprocess.run(command, cwd=REPO_ROOT, check=False)
            print(
                f"=== {bench}: exit {finished.returncode} after "
                f"{time.perf_counter() - started:.0f} s"
            )
            round_path = out / path.name
            if finished.returncode == 0 and round_path.exists():
                rounds[bench].append(json.loads(round_path.read_text()))
            else:
                failures[f"{bench} (round {round_number})"] = f"exit code {finished.returncode}"
    for bench, done in rounds.items():
        if done:
            results[bench] = combine_rounds(done)
            if len(done) > 1:
                write_result(BenchResult(**_result_fields(results[bench])), args.out)

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
        + (f" --rounds {args.rounds}" if args.rounds > 1 else "")
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
