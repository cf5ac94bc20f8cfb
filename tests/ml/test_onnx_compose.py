"""apps.ml.onnx_compose: a linear head appended to a feature graph (quick mode's ONNX)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from apps.ml import LinearHead, head_probabilities
from apps.ml.onnx_compose import compose_linear_classifier, linear_head_parameters


def test_composed_graph_equals_the_head_on_features(tmp_path):
    """A small stand-in "feature graph" (identity) with the head appended gives exactly the
    head's softmax."""
    import onnx
    from onnx import TensorProto, helper

    identity = helper.make_model(
        helper.make_graph(
            [helper.make_node("Identity", ["input"], ["features"])],
            "features",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 8])],
            [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 8])],
        ),
        opset_imports=[helper.make_opsetid("", 20)],
    )
    torch.manual_seed(0)
    head = LinearHead(8, 3)
    state = head.state_dict()
    model = compose_linear_classifier(identity, *linear_head_parameters(state))
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    got = session.run(None, {"input": x})[0]
    np.testing.assert_allclose(got, head_probabilities(state, x), atol=1e-6)
    assert session.get_outputs()[0].name == "probabilities"


def test_only_a_single_linear_layer_can_be_composed():
    two_layers = {"a.weight": torch.zeros(4, 8), "b.weight": torch.zeros(2, 4)}
    with pytest.raises(ValueError, match="single linear layer"):
        linear_head_parameters(two_layers)
