"""Classify images with a model exported from Bakehouse, off the platform.

Needs only onnxruntime, numpy and Pillow (``pip install onnxruntime numpy pillow``). Run it
from the unzipped bundle's folder or anywhere else:

    python predict.py photo.jpg [more.jpg ...]     # label and confidence per image
    python predict.py --int8 photo.jpg             # the quantized model (model.int8.onnx)
    python predict.py --json photo.jpg             # every probability, as JSON
    python predict.py --check                      # answers the same as the platform?

``--check`` runs the images under parity/ and compares the probabilities with those the
platform computed (parity.json); it exits with status 1 if any differs by more than 1e-4.
The preprocessing follows preprocessing.json, written by the platform from the same
definition its training and serving use.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
TOLERANCE = 1e-4


def load_rgb(path: Path, spec: dict) -> Image.Image:
    """The picture upright (EXIF orientation applied), transparency on white, 8-bit RGB."""
    with Image.open(path) as opened:
        opened.load()
        image = ImageOps.exif_transpose(opened) if spec.get("exif_transpose") else opened
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
            background = Image.new("RGBA", image.size, (255, 255, 255, 255))
            background.alpha_composite(image.convert("RGBA"))
            image = background
        return image.convert("RGB") if image.mode != "RGB" else image.copy()


def preprocess(image: Image.Image, spec: dict) -> np.ndarray:
    """RGB picture -> float32 [3, size, size]: the shorter side resized to ``resize_size``
    (bilinear), the centre ``input_size`` square kept, (pixel / 255 - mean) / std.

    Only the kept square is resized (Pillow's ``box``), as the platform does."""
    size, resize = spec["input_size"], spec["resize_size"]
    width, height = image.size
    scale = resize / min(width, height)
    new_w = max(size, round(width * scale))
    new_h = max(size, round(height * scale))
    left, top = (new_w - size) // 2, (new_h - size) // 2
    sx, sy = width / new_w, height / new_h
    box = (left * sx, top * sy, (left + size) * sx, (top + size) * sy)
    crop = image.resize((size, size), Image.Resampling.BILINEAR, box=box)
    std = np.asarray(spec["std"], dtype=np.float32)
    mean = np.asarray(spec["mean"], dtype=np.float32)
    scale_c = (1.0 / (255.0 * std)).reshape(3, 1, 1)
    offset = (-mean / std).reshape(3, 1, 1)
    chw = np.ascontiguousarray(np.asarray(crop).transpose(2, 0, 1))
    out = np.multiply(chw, scale_c, dtype=np.float32)
    out += offset
    return out


def probabilities(session: ort.InferenceSession, paths: list[Path], spec: dict) -> np.ndarray:
    name = session.get_inputs()[0].name
    rows = []
    for path in paths:
        batch = preprocess(load_rgb(path, spec), spec)[None]
        rows.append(session.run(None, {name: batch})[0][0])
    return np.asarray(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="*", type=Path)
    parser.add_argument("--int8", action="store_true", help="use model.int8.onnx")
    parser.add_argument("--json", action="store_true", help="print every probability as JSON")
    parser.add_argument("--check", action="store_true", help="compare with parity.json")
    args = parser.parse_args(argv)

    spec = json.loads((HERE / "preprocessing.json").read_text())
    labels = json.loads((HERE / "labels.json").read_text())
    model = HERE / ("model.int8.onnx" if args.int8 else "model.onnx")
    if not model.exists():
        why = (
            " It was downloaded before the platform had made the int8 copy (about a minute"
            " after training): download the bundle again from the Model page."
            if args.int8
            else ""
        )
        print(f"{model.name} is not in this bundle.{why}", file=sys.stderr)
        return 2
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])

    if args.check:
        parity = json.loads((HERE / "parity.json").read_text())
        key = "int8" if args.int8 else "fp32"
        rows = [row for row in parity["images"] if row.get(key) is not None]
        got = probabilities(session, [HERE / row["file"] for row in rows], spec)
        worst = float(np.abs(got - np.asarray([row[key] for row in rows])).max(initial=0.0))
        verdict = "OK" if worst <= TOLERANCE else "DIFFERENT"
        print(f"{verdict}: {len(rows)} images, largest difference {worst:.2e} ({key})")
        return 0 if worst <= TOLERANCE else 1

    if not args.images:
        parser.error("give one or more images (or --check)")
    results = []
    for path, row in zip(args.images, probabilities(session, args.images, spec), strict=True):
        best = int(np.argmax(row))
        results.append(
            {
                "image": str(path),
                "label": labels[best],
                "confidence": float(row[best]),
                "probabilities": {label: float(p) for label, p in zip(labels, row, strict=True)},
            }
        )
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for result in results:
            print(f"{result['image']}: {result['label']} ({result['confidence']:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
