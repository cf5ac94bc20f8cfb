"""A model version as a self-contained zip: the ONNX graphs, labels, the preprocessing spec,
a standalone ``predict.py`` and parity vectors, to run it off the platform and check that it
answers the same (no torch, no Django)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apps.ml.backbones import BackboneSpec, get_backbone
from apps.ml.images import open_image
from apps.ml.inference import Predictor
from apps.ml.preprocessing import preprocess_batch

# The script shipped as predict.py; it imports onnxruntime, numpy and Pillow only.
PREDICT_SCRIPT = Path(__file__).with_name("standalone_predict.py")
# Parity images are the platform's own stored copies; no limit is needed beyond sanity.
_MAX_PIXELS = 100_000_000


@dataclass(frozen=True)
class ParityImage:
    """One held-out image for the parity check: its file and its true label."""

    name: str  # file name inside the bundle's parity/ folder
    data: bytes
    label: str


def preprocessing_spec(backbone: str | BackboneSpec) -> dict[str, Any]:
    """How ``apps.ml.preprocess`` turns a picture into the network's input, as data: read
    from the same backbone entry the function itself uses."""
    spec = get_backbone(backbone)
    return {
        "backbone": spec.name,
        "input_size": spec.input_size,
        "resize_size": spec.resize_size,
        "resize": "shorter side to resize_size, bilinear (only the kept square is resampled)",
        "crop": "centre input_size x input_size",
        "scale": "pixel / 255",
        "mean": list(spec.mean),
        "std": list(spec.std),
        "normalise": "(pixel / 255 - mean) / std, per channel",
        "channel_order": "RGB",
        "layout": "NCHW float32",
        "exif_transpose": True,
        "transparency": "composited on white",
        "outputs": ["probabilities [N, classes], in the order of labels.json"],
    }


def parity_probabilities(
    onnx_bytes: bytes, images: Sequence[ParityImage], *, labels: Sequence[str], backbone: str
) -> np.ndarray:
    """[N, C] probabilities of the images by the platform's own decoding, preprocessing
    and ONNX Runtime."""
    predictor = Predictor.load(onnx_bytes, labels=labels, backbone=backbone, threads=1)
    pictures = [open_image(image.data, max_pixels=_MAX_PIXELS).image for image in images]
    return predictor.predict_arrays(preprocess_batch(pictures, backbone))


def build_bundle(
    *,
    fp32: bytes,
    int8: bytes | None,
    labels: Sequence[str],
    backbone: str,
    parity_images: Sequence[ParityImage],
    about: dict[str, Any] | None = None,
) -> bytes:
    """The zip: model.onnx, model.int8.onnx (when given), labels.json, preprocessing.json,
    predict.py, parity.json and the parity images under parity/. ``about`` (version number,
    accuracy...) goes into parity.json beside the vectors."""
    graphs = {"fp32": fp32, **({"int8": int8} if int8 else {})}
    expected = {
        name: parity_probabilities(graph, parity_images, labels=labels, backbone=backbone)
        if parity_images
        else np.zeros((0, len(labels)))
        for name, graph in graphs.items()
    }
    rows = []
    for k, image in enumerate(parity_images):
        row: dict[str, Any] = {"file": f"parity/{image.name}", "label": image.label}
        for name in ("fp32", "int8"):
            row[name] = [float(p) for p in expected[name][k]] if name in expected else None
        rows.append(row)
    parity = {**(about or {}), "tolerance": 1e-4, "images": rows}

    buffer = io.BytesIO()
    # ONNX weights barely compress; deflate still pays for the JSON and the script.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.onnx", fp32)
        if int8:
            archive.writestr("model.int8.onnx", int8)
        archive.writestr("labels.json", json.dumps(list(labels), indent=2))
        archive.writestr("preprocessing.json", json.dumps(preprocessing_spec(backbone), indent=2))
        archive.writestr("predict.py", PREDICT_SCRIPT.read_text())
        archive.writestr("parity.json", json.dumps(parity, indent=2))
        for image in parity_images:
            archive.writestr(f"parity/{image.name}", image.data)
    return buffer.getvalue()
