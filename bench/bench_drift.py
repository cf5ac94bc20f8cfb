"""Drift detection on embeddings: how soon each test alerts on a shifted stream, how often
it alerts on an unshifted one, and what the per-prediction sketch costs.

A quick-mode model (frozen EfficientNet-Lite0 + ``ml.fit_quick``'s linear head on
hymenoptera train/), composed to ONNX as the platform does, is run once over pools of
images: the training images (the version's reference, as ``apps.training.runner`` stores
it), the val/ images in four natural framings (as shot, mirrored, zoomed in, both: the
unshifted stream) and val/ images shifted: strong blur, greyscale and another subject
(generated drawings: shapes on coloured grounds), used to choose the test and its
threshold, plus noise, darkness and heavy JPEG (the "unseen" shifts: unseen when the
mean-shift test was chosen; the residual test's subspace size and its weight in the
combined test were then chosen with all six in view, so they are no longer a clean
held-out check). Each image's embedding is the served graph's "features" output and its
sketch ``ml.fit_drift_projection(reference).project``, exactly as serving does.

Streams are then drawn from the pools (cheap: no model call): ``--length`` requests; for a
shifted stream the first half is unshifted and from the middle on each request is, with
probability ``--mix`` (20 %), a shifted image. Every ``--step`` requests the last
``--window`` sketches are tested against the reference (as ``monitoring.check_drift``
does); the first p-value under ``--alpha`` is the alert. Figures per test and shift:
detected within ``--length / 2`` requests of the shift (share of runs), median delay, and
false alarms (any alert on an unshifted stream, or before the shift).

    .venv/bin/python -m bench.bench_drift [--runs 100] [--quick]
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from apps import ml
from apps.ml import drift
from bench.common import BenchResult, add_common_args, split_dirs, stopwatch, write_result

BACKBONE = "efficientnet_lite0"
SEEN = ("blur", "greyscale", "other_subject")
UNSEEN = ("noise", "dark", "jpeg")


def _paths(folder: Path, per_class: int | None) -> tuple[list[Path], list[int], list[str]]:
    labels = sorted(p.name for p in folder.iterdir() if p.is_dir())
    paths, targets = [], []
    for k, label in enumerate(labels):
        found = sorted(
            p for p in (folder / label).iterdir() if p.suffix.lower() in {".jpg", ".jpeg"}
        )
        paths += found[:per_class]
        targets += [k] * len(found[:per_class])
    return paths, targets, labels


def _zoom(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.crop((w // 10, h // 10, w - w // 10, h - h // 10))


def _noise(image: Image.Image, seed: int) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + np.random.default_rng(seed).normal(0, 45, pixels.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _jpeg(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=4)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _drawing(seed: int) -> Image.Image:
    """Another subject: a few shapes on a coloured ground, as a child would draw."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (320, 240), tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = int(rng.integers(0, 280)), int(rng.integers(0, 200))
        box = (x0, y0, x0 + int(rng.integers(20, 160)), y0 + int(rng.integers(20, 160)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return image


FRAMINGS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "as_shot": lambda im: im,
    "mirrored": ImageOps.mirror,
    "zoomed": _zoom,
    "mirrored_zoomed": lambda im: _zoom(ImageOps.mirror(im)),
}
SHIFTS: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "blur": lambda im, _: im.filter(ImageFilter.GaussianBlur(radius=8)),
    "greyscale": lambda im, _: ImageOps.grayscale(im).convert("RGB"),
    "other_subject": lambda _, seed: _drawing(seed),
    "noise": _noise,
    "dark": lambda im, _: ImageEnhance.Brightness(im).enhance(0.3),
    "jpeg": lambda im, _: _jpeg(im),
}


def _run_graph(predictor: ml.Predictor, images: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
    probabilities, features = [], []
    for start in range(0, len(images), 32):
        batch = ml.preprocess_batch(images[start : start + 32], BACKBONE)
        p, f = predictor.predict_arrays_with_features(batch)
        assert f is not None, "the composed graph has a features output"
        probabilities.append(p)
        features.append(f)
    return np.concatenate(probabilities), np.concatenate(features)


def _stream(
    rng: np.random.Generator, clean: np.ndarray, shifted: np.ndarray | None, length: int, mix: float
) -> np.ndarray:
    rows = clean[rng.integers(0, len(clean), length)]
    if shifted is not None:
        start = length // 2
        hit = np.flatnonzero(rng.random(length - start) < mix) + start
        rows[hit] = shifted[rng.integers(0, len(shifted), len(hit))]
    return rows


def _first_alert(
    stream: np.ndarray, reference: np.ndarray, method: str, *, window: int, step: int, alpha: float
) -> int | None:
    for end in range(window, len(stream) + 1, step):
        if (
            drift.embedding_drift(reference, stream[end - window : end], method=method).p_value
            < alpha
        ):
            return end
    return None


def _sketch_cost(
    predictor: ml.Predictor, image: np.ndarray, projection: drift.DriftProjection, rounds: int
) -> dict[str, float]:
    """CPU per prediction, side by side: the forward pass alone, and the forward pass plus
    the sketch (projection + float16 bytes), interleaved."""
    plain, with_sketch = [], []
    for _ in range(rounds):
        started = time.process_time()
        predictor.predict_arrays_with_features(image)
        plain.append(time.process_time() - started)
        started = time.process_time()
        _, features = predictor.predict_arrays_with_features(image)
        drift.sketch_to_bytes(projection.project(features)[0])
        with_sketch.append(time.process_time() - started)
    features = predictor.predict_arrays_with_features(image)[1]
    started = time.perf_counter()
    for _ in range(2000):
        drift.sketch_to_bytes(projection.project(features)[0])
    sketch_only = (time.perf_counter() - started) / 2000
    return {
        "predict_cpu_ms": round(1e3 * float(np.median(plain)), 3),
        "predict_with_sketch_cpu_ms": round(1e3 * float(np.median(with_sketch)), 3),
        "sketch_only_ms": round(1e3 * sketch_only, 4),
    }


def _evaluate(
    args: argparse.Namespace,
    method: str,
    reference: np.ndarray,
    clean: np.ndarray,
    pools: dict[str, np.ndarray],
    runs: int,
    mix: float,
) -> dict[str, float]:
    """False alarms on ``runs`` unshifted streams; per shift, the share of ``runs`` shifted
    streams detected within ``length / 2`` requests of the shift, and the median delay."""
    rng = np.random.default_rng(1)
    half = args.length // 2
    settings = {"window": args.window, "step": args.step, "alpha": args.alpha}
    out: dict[str, float] = {}
    false = sum(
        _first_alert(_stream(rng, clean, None, args.length, mix), reference, method, **settings)
        is not None
        for _ in range(runs)
    )
    out[f"{method}_false_alarm_rate"] = round(false / runs, 3)
    for name, pool in pools.items():
        delays = []
        for _ in range(runs):
            stream = _stream(rng, clean, pool, args.length, mix)
            alert = _first_alert(stream, reference, method, **settings)
            if alert is not None and half < alert <= 2 * half:
                delays.append(alert - half)
        out[f"{method}_{name}_detected_rate"] = round(len(delays) / runs, 3)
        out[f"{method}_{name}_median_delay"] = float(np.median(delays)) if delays else -1.0
    return out


def run(args: argparse.Namespace) -> BenchResult:
    from threadpoolctl import threadpool_limits

    train_dir, val_dir = split_dirs(args.data)
    per_class = 15 if args.quick else None
    with stopwatch() as prepare:
        train_paths, train_y, labels = _paths(train_dir, per_class)
        val_paths, _, _ = _paths(val_dir, per_class)
        train_images = [Image.open(p).convert("RGB") for p in train_paths]
        val_images = [Image.open(p).convert("RGB") for p in val_paths]
        train_x = np.stack([ml.preprocess(im, BACKBONE) for im in train_images])
        trained = ml.fit_quick(
            ml.embed_arrays(train_x, backbone=BACKBONE),
            np.asarray(train_y),
            spec=ml.QuickSpec(backbone=BACKBONE, labels=tuple(labels)),
        )
        graph = ml.compose_classifier_onnx(BACKBONE, trained.head_state)
        predictor = ml.Predictor.load(graph, labels=labels, backbone=BACKBONE, threads=2)
        # The version's reference: the training images' embeddings, through the graph.
        _, reference_features = _run_graph(predictor, train_images)
        projection = drift.fit_drift_projection(reference_features)
        # As the monitoring does: the reference's residuals measured out of sample.
        reference = drift.drift_reference_sketches(projection, reference_features)
        framed = [_run_graph(predictor, [f(im) for im in val_images]) for f in FRAMINGS.values()]
        outputs = {"clean": tuple(np.concatenate(parts) for parts in zip(*framed, strict=True))}
        for name, shift in SHIFTS.items():
            outputs[name] = _run_graph(predictor, [shift(im, k) for k, im in enumerate(val_images)])
        raw = {name: features for name, (_, features) in outputs.items()}
        confidences = {name: p.max(axis=1) for name, (p, _) in outputs.items()}
        predicted = {name: p.argmax(axis=1) for name, (p, _) in outputs.items()}
    if args.save_features:
        np.savez(
            args.save_features,
            reference=reference_features,
            **raw,
            **{f"{name}_confidence": c for name, c in confidences.items()},
            **{f"{name}_label": c for name, c in predicted.items()},
        )
    clean = projection.project(raw.pop("clean"))
    pools = {name: projection.project(features) for name, features in raw.items()}
    single = ml.Predictor.load(graph, labels=labels, backbone=BACKBONE, threads=1)
    with threadpool_limits(limits=1, user_api="blas"):
        cost = _sketch_cost(single, train_x[:1], projection, rounds=60 if args.quick else 300)

    metrics: dict[str, float] = {"reference_images": len(reference), "unshifted_pool": len(clean)}
    metrics.update(cost)
    metrics["sketch_added_cpu_ms"] = round(
        cost["predict_with_sketch_cpu_ms"] - cost["predict_cpu_ms"], 3
    )
    metrics["prepare_s"] = round(prepare["s"], 1)
    runs = 20 if args.quick else args.runs
    with threadpool_limits(limits=1, user_api="blas"):
        for method in args.methods:
            started = time.perf_counter()
            method_runs = min(runs, args.slow_runs) if method == "mmd" else runs
            metrics[f"{method}_runs"] = method_runs
            metrics.update(_evaluate(args, method, reference, clean, pools, method_runs, args.mix))
            metrics[f"{method}_seconds"] = round(time.perf_counter() - started, 1)
        # How large a share the shifts the default test finds least need.
        for mix in (0.3, 0.5):
            found = _evaluate(args, drift.DEFAULT_METHOD, reference, clean, pools, runs, mix)
            for key, value in found.items():
                if key.endswith("_detected_rate"):
                    metrics[f"{key}_at_{round(mix * 100)}pct"] = value
    started = time.perf_counter()
    for _ in range(20):
        drift.embedding_drift(reference, clean[: args.window], method=drift.DEFAULT_METHOD)
    metrics["check_ms"] = round((time.perf_counter() - started) / 20 * 1e3, 2)
    return BenchResult(
        name="drift" + ("_quick" if args.quick else ""),
        title="Drift on embeddings: detection within 500 requests, false alarms, sketch cost",
        params={
            "dataset": str(args.data),
            "runs_per_case": runs,
            "stream_length": args.length,
            "shift_starts_at": args.length // 2,
            "shifted_share_after_start": args.mix,
            "window": args.window,
            "step": args.step,
            "alpha": args.alpha,
            "dims": projection.dims,
            "seen_shifts": list(SEEN),
            "unseen_shifts": list(UNSEEN),
        },
        metrics=metrics,
        notes=[
            "detected_rate: share of shifted streams whose first alert came after the shift "
            "started and within length/2 requests of it; false_alarm_rate: share of unshifted "
            "streams with any alert.",
            "sketch cost: process CPU time, one thread, forward pass of one image with and "
            "without the projection, interleaved; sketch_only_ms: the projection alone.",
        ],
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--mix", type=float, default=0.2)
    parser.add_argument("--window", type=int, default=400)
    parser.add_argument("--step", type=int, default=50)
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--methods", nargs="+", default=list(drift.METHODS))
    parser.add_argument(
        "--slow-runs", type=int, default=20, help="runs per case for the MMD (permutations)"
    )
    parser.add_argument(
        "--save-features", type=Path, help="also write the pools' embeddings to this .npz"
    )
    args = parser.parse_args(argv)
    result = run(args)
    write_result(result, args.out)
    for key, value in result.metrics.items():
        print(f"{key}: {value}")
    return result


if __name__ == "__main__":
    main()
