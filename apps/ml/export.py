"""ONNX export of backbones and classifiers."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from PIL import Image
from torch import nn

from apps.ml.backbones import BackboneSpec, get_backbone
from apps.ml.files import atomic_write_bytes
from apps.ml.preprocessing import preprocess_batch

# The exported graph must give the same probabilities as PyTorch, to this much.
EXPORT_TOLERANCE = 1e-3


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The dynamo exporter reports each stage on stdout and warns about internals; none of it is
    # actionable for a user watching a training job.
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def onnx_bytes(
    model: nn.Module, *, spec: BackboneSpec | str, output_name: str = "probabilities"
) -> bytes:
    """Export ``model`` (input [N, 3, H, W] -> one output) to a self-contained ONNX model.

    The dynamo exporter folds the backbone's asymmetric "same" padding into the convolutions,
    which the TorchScript exporter leaves as separate Pad nodes (about 1.5x slower to run).
    """
    spec = get_backbone(spec)
    was_training = model.training
    model.eval()
    example = torch.zeros(2, 3, spec.input_size, spec.input_size)
    try:
        with _quiet(), torch.no_grad():
            program = torch.onnx.export(
                model,
                (example,),
                input_names=["input"],
                output_names=[output_name],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=True,
                optimize=True,
                verbose=False,
            )
    finally:
        model.train(was_training)
    # With dynamo=True the exporter always returns a program (None is the TorchScript path).
    assert program is not None
    proto = program.model_proto
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def export_onnx(model: nn.Module, path: str | Path, *, spec: BackboneSpec | str) -> None:
    """Write ``model`` (preprocessed input -> probabilities) as ONNX: input "input"
    [N, 3, H, W], output "probabilities", dynamic batch. The file appears whole or not at all."""
    data = onnx_bytes(model, spec=spec, output_name="probabilities")
    atomic_write_bytes(Path(path), data)


def export_checked(
    model: nn.Module,
    *,
    spec: BackboneSpec | str,
    images: Sequence[Image.Image] = (),
    tolerance: float = EXPORT_TOLERANCE,
) -> bytes:
    """``model`` (preprocessed input -> probabilities) as ONNX bytes, checked against
    PyTorch's own probabilities on ``images`` (a few real pictures are enough).

    Raises ``RuntimeError`` when the two disagree by more than ``tolerance``."""
    spec = get_backbone(spec)
    data = onnx_bytes(model, spec=spec, output_name="probabilities")
    if images:
        batch = preprocess_batch(list(images), spec)
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode():
                expected = model(torch.from_numpy(batch)).numpy()
        finally:
            model.train(was_training)
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": batch})[0]
        gap = float(np.max(np.abs(got - expected)))
        if gap > tolerance:
            raise RuntimeError(
                f"the exported ONNX model disagrees with the trained network (by {gap:.2g})"
            )
    return data
