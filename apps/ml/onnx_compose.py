"""A classifier's ONNX graph in a fraction of a second: the cached backbone feature graph
with a linear head appended (Gemm + Softmax).

Exporting the whole network with the dynamo exporter takes 10 s or more; when only the
head was trained (quick mode) the backbone part of the graph is the one already exported
for embeddings, so appending the head is all that is left to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from apps.ml.backbones import BackboneSpec, get_backbone
from apps.ml.embedding import feature_graph_path

FEATURES = "features"
OUTPUT = "probabilities"


def linear_head_parameters(head_state: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(weight [C, D], bias [C]) of a head that is a single linear layer (dropout and other
    parameter-free layers around it are fine). Raises ValueError for any other head."""
    weights = {k: v for k, v in head_state.items() if k.endswith("weight")}
    if len(weights) != 1:
        raise ValueError("The head is not a single linear layer; export the whole network instead.")
    ((name, weight),) = weights.items()
    weight = _numpy(weight)
    if weight.ndim != 2:
        raise ValueError("The head's weight is not a matrix; export the whole network instead.")
    bias_name = name[: -len("weight")] + "bias"
    bias = (
        _numpy(head_state[bias_name])
        if bias_name in head_state
        else np.zeros(weight.shape[0], np.float32)
    )
    return weight.astype(np.float32), bias.astype(np.float32)


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def compose_linear_classifier(
    feature_graph: str | Path | onnx.ModelProto,
    weight: np.ndarray,
    bias: np.ndarray,
) -> onnx.ModelProto:
    """The feature graph ("input" -> "features" [N, D]) followed by softmax(x W^T + b):
    "input" [N, 3, H, W] -> "probabilities" [N, C] and, second, "features" [N, D] (the
    frozen embedding itself, for out-of-distribution scores)."""
    model = (
        feature_graph
        if isinstance(feature_graph, onnx.ModelProto)
        else onnx.load(str(feature_graph))
    )
    graph = model.graph
    outputs = [o for o in graph.output if o.name == FEATURES]
    if not outputs:
        raise ValueError(f'The feature graph has no "{FEATURES}" output.')
    features_dim = outputs[0].type.tensor_type.shape.dim[1].dim_value
    classes, dim = weight.shape
    if features_dim and features_dim != dim:
        raise ValueError(f"The head expects {dim} features; the backbone gives {features_dim}.")
    if bias.shape != (classes,):
        raise ValueError("The head's bias does not match its weight.")

    graph.initializer.extend(
        [
            numpy_helper.from_array(np.ascontiguousarray(weight, np.float32), "head_weight"),
            numpy_helper.from_array(np.ascontiguousarray(bias, np.float32), "head_bias"),
        ]
    )
    graph.node.extend(
        [
            helper.make_node(
                "Gemm", [FEATURES, "head_weight", "head_bias"], ["logits"], transB=1, name="head"
            ),
            helper.make_node("Softmax", ["logits"], [OUTPUT], axis=-1, name="softmax"),
        ]
    )
    batch = outputs[0].type.tensor_type.shape.dim[0]
    probabilities = helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, classes])
    probabilities.type.tensor_type.shape.dim[0].CopyFrom(batch)
    features = onnx.ValueInfoProto()
    features.CopyFrom(outputs[0])
    del graph.output[:]
    # Probabilities first (what every caller reads as output 0), then the embedding the
    # head saw: serving scores it for out-of-distribution in the same forward pass.
    graph.output.extend([probabilities, features])
    onnx.checker.check_model(model)
    return model


def compose_classifier_onnx(backbone: str | BackboneSpec, head_state: Mapping[str, Any]) -> bytes:
    """Serialized ONNX classifier (preprocessed input -> class probabilities) for a frozen
    ``backbone`` and a trained linear head's state dict."""
    spec = get_backbone(backbone)
    weight, bias = linear_head_parameters(head_state)
    return compose_linear_classifier(feature_graph_path(spec), weight, bias).SerializeToString()
