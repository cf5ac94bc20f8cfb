"""ONNX export of backbones and classifiers."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from apps.ml.backbones import BackboneSpec, get_backbone


@contextlib.contextmanager
def _quiet():
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
    proto = program.model_proto
    onnx.checker.check_model(proto, full_check=True)
    return proto.SerializeToString()


def export_onnx(model: nn.Module, path: str | Path, *, spec: BackboneSpec | str) -> None:
    """Write ``model`` (preprocessed input -> probabilities) as ONNX: input "input"
    [N, 3, H, W], output "probabilities", dynamic batch. The file appears whole or not at all."""
    from apps.ml.embedding import atomic_write_bytes

    data = onnx_bytes(model, spec=spec, output_name="probabilities")
    atomic_write_bytes(Path(path), data)
