"""Minimal TorchServe handler: JPEG bytes -> ONNX Runtime -> top class + probabilities.

Packed into the ``.mar`` by ``bench/torchserve/serve.py``. It does not import ``ts`` so that
``bench/onnx_forward.py`` can reuse ``preprocess_image`` (one preprocessing definition for the
in-process ORT timing and the TorchServe anchor). TorchServe instantiates the single class of
this module and calls ``initialize(context)`` once per worker, then ``handle(data, context)``
per (possibly batched) request list.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

RESIZE, CROP = 256, 224


def preprocess_image(data: bytes) -> np.ndarray:
    """Decode an image and return a 1x3x224x224 float32 array: resize 256, centre-crop 224, [-1, 1]."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = image.size
    scale = RESIZE / min(width, height)  # shorter side to 256, like torchvision's Resize(256)
    image = image.resize(
        (max(RESIZE, round(width * scale)), max(RESIZE, round(height * scale))),
        Image.Resampling.BILINEAR,
    )
    left = (image.width - CROP) // 2
    top = (image.height - CROP) // 2
    image = image.crop((left, top, left + CROP, top + CROP))
    array = np.asarray(image, dtype=np.float32) * (2.0 / 255.0) - 1.0  # (x/255 - 0.5) / 0.5
    return np.ascontiguousarray(array.transpose(2, 0, 1)[np.newaxis])


class OnnxImageClassifier:
    def __init__(self) -> None:
        self.session: ort.InferenceSession | None = None
        self.input_name = ""
        self.classes: list[str] = []

    def initialize(self, context: Any) -> None:
        properties = context.system_properties
        model_dir = properties["model_dir"]
        model_file = context.manifest["model"]["serializedFile"]
        handler_config = (getattr(context, "model_yaml_config", None) or {}).get("handler", {})

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(handler_config.get("intra_op_threads", 1))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            os.path.join(model_dir, model_file), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

        names_file = os.path.join(model_dir, "index_to_name.json")
        if os.path.isfile(names_file):
            with open(names_file) as handle:
                names = json.load(handle)
            self.classes = [names[str(i)] for i in range(len(names))]

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[dict[str, Any]]:
        assert self.session is not None, "initialize() must run first"
        # Raw body arrives as "body", a multipart field as "data" (or the field's name).
        payloads = [row.get("data") or row.get("body") or next(iter(row.values())) for row in data]
        batch = np.concatenate([preprocess_image(bytes(payload)) for payload in payloads])
        probabilities = self.session.run(None, {self.input_name: batch})[0]
        responses = []
        for row in probabilities:
            top = int(row.argmax())
            responses.append(
                {
                    "label": self.classes[top] if self.classes else top,
                    "probabilities": {
                        (self.classes[i] if self.classes else str(i)): float(p)
                        for i, p in enumerate(row)
                    },
                }
            )
        return responses
