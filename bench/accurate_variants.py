"""Which frozen features reach the accurate-mode goal: the variants issue 15 names, side by side.

Embeds a folder-per-class data set's ``train/`` and ``val/`` with EfficientNet-Lite0 and
Lite2 (the bundled weights, the one preprocessing), each image also mirrored, and fits the
head accurate mode ships (``ml.choose_l2`` then ``ml.fit_quick``) on each variant:

* Lite2 alone (accurate mode today);
* flip test-time augmentation: the mean of an image's and its mirror's embeddings, for
  training and evaluation images alike; and flips as extra training images;
* Lite0 and Lite2 embeddings concatenated, with and without the flip;
* the mean of the Lite0 head's and the Lite2 head's probabilities.

    .venv/bin/python -m bench.accurate_variants [--data PATH]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ImageOps

from bench.common import BenchResult, add_common_args, write_result

BACKBONES = ("efficientnet_lite0", "efficientnet_lite2")


def _load(folder: Path, classes: list[str]) -> tuple[list[Any], np.ndarray]:
    from apps.ml import open_image

    images, targets = [], []
    for index, name in enumerate(classes):
        for path in sorted((folder / name).iterdir()):
            images.append(open_image(path.read_bytes(), max_pixels=40_000_000).image.convert("RGB"))
            targets.append(index)
    return images, np.asarray(targets)


def _probabilities(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    from apps import ml

    classes = int(train_y.max()) + 1
    with ml.torch_threads(1):
        choice = ml.choose_l2(train_x, train_y, num_classes=classes, need_probabilities=False)
        spec = ml.QuickSpec(
            backbone=BACKBONES[1], labels=tuple(str(c) for c in range(classes)), l2=choice.l2
        )
        result = ml.fit_quick(train_x, train_y, spec=spec)
    assert result.head_state is not None
    return ml.head_probabilities(result.head_state, test_x)


def run(args: argparse.Namespace) -> BenchResult:
    from apps.ml import embed

    classes = sorted(p.name for p in (args.data / "train").iterdir() if p.is_dir())
    train_images, train_y = _load(args.data / "train", classes)
    val_images, val_y = _load(args.data / "val", classes)
    started = time.perf_counter()
    features: dict[tuple[str, str, bool], np.ndarray] = {}
    for split, images in (("train", train_images), ("val", val_images)):
        mirrored = [ImageOps.mirror(image) for image in images]
        for backbone in BACKBONES:
            features[split, backbone, False] = embed(images, backbone=backbone)
            features[split, backbone, True] = embed(mirrored, backbone=backbone)
    embed_seconds = time.perf_counter() - started

    def plain(split: str, backbone: str) -> np.ndarray:
        return features[split, backbone, False]

    def flip_mean(split: str, backbone: str) -> np.ndarray:
        return (features[split, backbone, False] + features[split, backbone, True]) / 2

    def both(split: str, make: Any) -> np.ndarray:
        return np.concatenate([make(split, b) for b in BACKBONES], axis=1)

    lite0, lite2 = BACKBONES
    twice = np.concatenate([train_y, train_y])
    variants: dict[str, np.ndarray] = {
        "lite2": _probabilities(plain("train", lite2), train_y, plain("val", lite2)),
        "lite2_flip_tta": _probabilities(
            flip_mean("train", lite2), train_y, flip_mean("val", lite2)
        ),
        "lite2_flips_as_training_images": _probabilities(
            np.concatenate([plain("train", lite2), features["train", lite2, True]]),
            twice,
            plain("val", lite2),
        ),
        "lite0_plus_lite2": _probabilities(both("train", plain), train_y, both("val", plain)),
        "lite0_plus_lite2_flip_tta": _probabilities(
            both("train", flip_mean), train_y, both("val", flip_mean)
        ),
    }
    lite0_probs = _probabilities(plain("train", lite0), train_y, plain("val", lite0))
    variants["lite0"] = lite0_probs
    variants["mean_of_lite0_and_lite2_heads"] = (lite0_probs + variants["lite2"]) / 2
    metrics: dict[str, Any] = {"val_images": len(val_y), "embed_seconds": round(embed_seconds, 1)}
    for name, probabilities in variants.items():
        correct = int((probabilities.argmax(axis=1) == val_y).sum())
        metrics[f"{name}_correct"] = correct
        metrics[f"{name}_accuracy_pct"] = round(100 * correct / len(val_y), 2)
    return BenchResult(
        name="accurate_variants",
        title="Accurate mode: frozen-feature variants on the same images",
        params={"data": str(args.data), "classes": classes},
        metrics=metrics,
        notes=[
            "Each head: the L2 penalty chosen by cross-validation on train/ (ml.choose_l2), "
            "then fitted on all of train/ (ml.fit_quick), evaluated on val/."
        ],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_args(parser)
    args = parser.parse_args(argv)
    write_result(run(args), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
