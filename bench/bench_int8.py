"""INT8 against fp32: accuracy on hymenoptera val and single-image latency, as a training job
makes the int8 copy (apps.training.compression).

A quick-mode model (frozen EfficientNet-Lite0 + the linear head ``ml.fit_quick`` trains on
train/), composed to ONNX as the platform does, is quantized with ``ml.quantize_classifier``
calibrated on 32 training images spread over train/ (the platform's ``CALIBRATION_IMAGES``);
both graphs are scored on every val/ image through ``ml.preprocess``, then timed on one
thread: single images (latency) and batches of 8 (throughput), interleaved so that a busy
machine slows both alike.

    .venv/bin/python -m bench.bench_int8 [--seconds 3] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from apps import ml
from bench.common import BenchResult, add_common_args, split_dirs, stopwatch, write_result

BACKBONE = "efficientnet_lite0"
CALIBRATION_IMAGES = 32


def _load(folder: Path, per_class: int | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    labels = sorted(p.name for p in folder.iterdir() if p.is_dir())
    arrays, targets = [], []
    for k, label in enumerate(labels):
        paths = sorted(
            p for p in (folder / label).iterdir() if p.suffix.lower() in {".jpg", ".jpeg"}
        )
        for path in paths[:per_class]:
            with Image.open(path) as image:
                arrays.append(ml.preprocess(image.convert("RGB"), BACKBONE))
            targets.append(k)
    return np.stack(arrays), np.asarray(targets), labels


def run(args: argparse.Namespace) -> BenchResult:
    train_dir, val_dir = split_dirs(args.data)
    per_class = 20 if args.quick else None
    with stopwatch() as load_time:
        train_x, train_y, labels = _load(train_dir, per_class)
        val_x, val_y, _ = _load(val_dir, per_class)
    features = ml.embed_arrays(train_x, backbone=BACKBONE)
    result = ml.fit_quick(
        features, train_y, spec=ml.QuickSpec(backbone=BACKBONE, labels=tuple(labels))
    )
    fp32 = ml.compose_classifier_onnx(BACKBONE, result.head_state)

    picks = np.unique(np.linspace(0, len(train_x) - 1, CALIBRATION_IMAGES).round().astype(int))
    started = time.perf_counter()
    int8 = ml.quantize_classifier(fp32, ml.batched(list(train_x[picks]), 16))
    quantize_s = time.perf_counter() - started

    probs = {
        name: ml.onnx_probabilities(graph, ml.batched(list(val_x), 16))
        for name, graph in (("fp32", fp32), ("int8", int8))
    }
    accuracy = {name: float((p.argmax(1) == val_y).mean()) for name, p in probs.items()}
    speed = ml.measure_speeds({"fp32": fp32, "int8": int8}, val_x[0], seconds=args.seconds)

    metrics = {
        "fp32_accuracy": round(accuracy["fp32"], 4),
        "int8_accuracy": round(accuracy["int8"], 4),
        "accuracy_change_points": round(100 * (accuracy["int8"] - accuracy["fp32"]), 2),
        "label_agreement": round(
            float((probs["fp32"].argmax(1) == probs["int8"].argmax(1)).mean()), 4
        ),
        "max_probability_difference": round(float(np.abs(probs["fp32"] - probs["int8"]).max()), 4),
        "fp32_latency_ms": round(speed["fp32"]["latency_ms"], 2),
        "int8_latency_ms": round(speed["int8"]["latency_ms"], 2),
        "latency_speedup": round(speed["fp32"]["latency_ms"] / speed["int8"]["latency_ms"], 2),
        "fp32_throughput_per_s": round(speed["fp32"]["throughput_per_s"], 1),
        "int8_throughput_per_s": round(speed["int8"]["throughput_per_s"], 1),
        "fp32_mb": round(len(fp32) / 2**20, 2),
        "int8_mb": round(len(int8) / 2**20, 2),
        "quantize_s": round(quantize_s, 1),
        "val_images": len(val_y),
        "load_s": round(load_time["s"], 1),
    }
    return BenchResult(
        name="int8" + ("_quick" if args.quick else ""),
        title="INT8 (static, per-channel, QOperator) against fp32, EfficientNet-Lite0 quick model",
        params={
            "dataset": str(args.data),
            "calibration_images": len(picks),
            "timing_seconds_per_graph": args.seconds,
            "threads": 1,
            "batch_for_throughput": 8,
        },
        metrics=metrics,
        notes=[
            "Accuracy: every val/ image through ml.preprocess, the serving preprocessing.",
            "Latency: median session.run of one preprocessed image on one thread (forward only); "
            "throughput: batches of 8 on one thread. The graphs are timed in turn, 3 rounds.",
        ],
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per graph")
    args = parser.parse_args(argv)
    result = run(args)
    write_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
