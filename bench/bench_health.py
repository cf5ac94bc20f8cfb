"""Data health: label issues, near-duplicates, strangers, and the cost of the whole analysis.

On a folder-per-class data set (``train/`` and ``val/``; hymenoptera by default):

* label issues: flip ``--flip`` (5 %) of the labels at random, compute out-of-sample
  probabilities by 5-fold cross-validation of quick mode's head on the frozen embeddings, and
  score the flagged list against the flips (precision, recall), median over ``--seeds``;
* near-duplicates: resized, re-encoded and slightly cropped copies of ``--copies`` photos added
  to the set; the share of copies found, and the share of flagged pairs that are not copies;
* strangers: the out-of-distribution score calibrated on ``train/`` flags photos of unrelated
  subjects (scikit-image's sample photos and crops of them) and the in-distribution ``val/``;
* cost: the whole analysis (cross-validation, label issues, duplicates, outliers) on 10,000
  synthetic 1,280-dimensional embeddings in 10 classes.

    .venv/bin/python -m bench.bench_health [--data DIR] [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from apps import ml
from bench.common import BenchResult, add_common_args, split_dirs, write_result

EXTENSIONS = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"}


def load_folder(root: Path) -> tuple[list[Path], list[str]]:
    paths, labels = [], []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() in EXTENSIONS:
                paths.append(path)
                labels.append(class_dir.name)
    return paths, labels


def rgb(path_or_image: Path | Image.Image) -> Image.Image:
    if isinstance(path_or_image, Image.Image):
        return path_or_image.convert("RGB")
    with Image.open(path_or_image) as opened:
        return opened.convert("RGB")


def embed_images(images: list[Image.Image]) -> np.ndarray:
    return ml.embed(images, backbone="efficientnet_lite0", batch_size=16)


def label_issue_scores(
    features: np.ndarray, y: np.ndarray, num_classes: int, *, flip: float, seed: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    noisy = y.copy()
    flipped = rng.choice(len(y), size=max(1, round(flip * len(y))), replace=False)
    for index in flipped:
        noisy[index] = rng.choice([c for c in range(num_classes) if c != y[index]])
    started = time.perf_counter()
    probs = ml.cross_validated_probabilities(features, noisy, num_classes=num_classes, seed=seed)
    issues = ml.label_issues(noisy, probs)
    seconds = time.perf_counter() - started
    found = {issue.index for issue in issues}
    truth = set(flipped.tolist())
    hits = len(found & truth)
    return {
        "precision": hits / len(found) if found else 0.0,
        "recall": hits / len(truth),
        "flagged": len(found),
        "flipped": len(truth),
        "seconds": seconds,
        "cv_accuracy_clean_labels": float((probs.argmax(1) == y).mean()),
    }


def copies_of(image: Image.Image, rng: np.random.Generator) -> list[Image.Image]:
    """Three edits a real data set collects twice: resized, re-encoded, slightly cropped."""
    w, h = image.size
    resized = image.resize((max(32, w // 2), max(32, h // 2)), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(35, 60)))
    reencoded = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    dx, dy = int(w * rng.uniform(0.03, 0.08)), int(h * rng.uniform(0.03, 0.08))
    cropped = image.crop((dx, dy, w - dx, h - dy))
    return [resized, reencoded, cropped]


def stranger_images() -> list[Image.Image]:
    """Photos of subjects unrelated to any project's classes: scikit-image's samples (bundled
    in its wheel), each whole and as four corner crops."""
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    images = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith((".png", ".jpg")):
            continue
        image = rgb(folder / name)
        w, h = image.size
        images.append(image)
        for box in ((0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h)):
            images.append(image.crop(box))
    return images


def synthetic_cost(n: int = 10_000, dim: int = 1280, classes: int = 10) -> dict[str, float]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    y = rng.integers(0, classes, size=n)
    x = centres[y] + rng.normal(scale=2.5, size=(n, dim)).astype(np.float32)
    x = np.maximum(x, 0)  # post-ReLU-like features, as the backbone's are
    timings: dict[str, float] = {}
    started = time.perf_counter()
    probs = ml.cross_validated_probabilities(x, y, num_classes=classes)
    timings["cost_10k_cross_validation_s"] = time.perf_counter() - started
    t = time.perf_counter()
    ml.label_issues(y, probs)
    timings["cost_10k_label_issues_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ml.near_duplicates(x)
    timings["cost_10k_near_duplicates_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ml.OutlierScorer(x).scores(x[:100])
    timings["cost_10k_outliers_s"] = time.perf_counter() - t
    timings["cost_10k_total_s"] = time.perf_counter() - started
    return {key: round(value, 3) for key, value in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--flip", type=float, default=0.05, help="share of labels to flip")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--copies", type=int, default=40, help="photos copied for duplicates")
    args = parser.parse_args()
    seeds = 2 if args.quick else args.seeds

    train_dir, val_dir = split_dirs(Path(args.data))
    train_paths, train_labels = load_folder(train_dir)
    val_paths, val_labels = load_folder(val_dir)
    classes = sorted(set(train_labels) | set(val_labels))
    paths = train_paths + val_paths
    y = np.array([classes.index(name) for name in train_labels + val_labels])
    originals = [rgb(path) for path in paths]
    started = time.perf_counter()
    features = embed_images(originals)
    embed_seconds = time.perf_counter() - started

    result = BenchResult(
        name="health",
        title="Data health: label issues, near-duplicates, strangers, cost",
        params={
            "data": str(args.data),
            "images": len(paths),
            "classes": len(classes),
            "flip": args.flip,
            "seeds": seeds,
        },
    )
    result.metrics["embed_seconds"] = round(embed_seconds, 2)

    runs = [
        label_issue_scores(features, y, len(classes), flip=args.flip, seed=seed)
        for seed in range(seeds)
    ]
    for key in ("precision", "recall", "flagged", "seconds", "cv_accuracy_clean_labels"):
        result.metrics[f"label_issues_{key}_median"] = round(
            statistics.median(run[key] for run in runs), 4
        )
    result.metrics["label_issues_recall_runs"] = [round(run["recall"], 3) for run in runs]
    result.metrics["label_issues_precision_runs"] = [round(run["precision"], 3) for run in runs]

    rng = np.random.default_rng(0)
    copied = rng.choice(len(originals), size=min(args.copies, len(originals)), replace=False)
    copy_images, copy_of = [], []
    for index in copied:
        for image in copies_of(originals[index], rng):
            copy_images.append(image)
            copy_of.append(int(index))
    all_features = np.concatenate([features, embed_images(copy_images)])
    owner = list(range(len(originals))) + copy_of  # which original each row shows
    pairs = ml.near_duplicates(all_features)
    true_pairs = {
        (min(a, b), max(a, b))
        for a in range(len(owner))
        for b in range(a + 1, len(owner))
        if owner[a] == owner[b]
    }
    found = {(p.first, p.second) for p in pairs}
    result.metrics["duplicates_true_pairs"] = len(true_pairs)
    result.metrics["duplicates_found_share"] = round(len(found & true_pairs) / len(true_pairs), 4)
    result.metrics["duplicates_flagged_pairs"] = len(found)
    result.metrics["duplicates_false_share"] = round(
        len(found - true_pairs) / len(found) if found else 0.0, 4
    )
    missed = sorted(true_pairs - found)
    centred = all_features - all_features.mean(axis=0)
    sims = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    result.metrics["duplicates_missed_min_similarity"] = round(
        min((float(sims[a] @ sims[b]) for a, b in missed), default=1.0), 4
    )

    train_count = len(train_paths)
    scorer = ml.OutlierScorer(features[:train_count])
    strangers = stranger_images()
    stranger_flags = scorer.flags(embed_images(strangers))
    val_flags = scorer.flags(features[train_count:])
    result.metrics["strangers_images"] = len(strangers)
    result.metrics["strangers_flagged_share"] = round(float(stranger_flags.mean()), 4)
    result.metrics["in_distribution_val_flagged_share"] = round(float(val_flags.mean()), 4)

    result.metrics.update(synthetic_cost(n=2000 if args.quick else 10_000))
    result.notes.append(
        "Goals (issue 14): label issues recall >= 0.80 at precision >= 0.60; duplicates >= 95 % "
        "found, <= 1 % false pairs; strangers >= 90 % flagged, val <= 10 % flagged; "
        "analysis of 10,000 images <= 10 s."
    )
    write_result(result, Path(args.out))
    for key, value in result.metrics.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
