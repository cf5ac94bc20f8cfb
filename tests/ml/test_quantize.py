"""INT8 compression and the export bundle's pure parts (apps.ml.quantize, apps.ml.bundle) on
a real EfficientNet-Lite0 graph and a few hymenoptera photos."""

from __future__ import annotations

import ast
import importlib.util
import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from apps import ml
from apps.ml.bundle import PREDICT_SCRIPT

BACKBONE = "efficientnet_lite0"


@pytest.fixture(scope="module")
def graphs(val_sample) -> tuple[bytes, bytes, np.ndarray]:
    """(fp32 graph, its int8 copy calibrated on the sample, the sample preprocessed)."""
    images, _ = val_sample
    rng = np.random.default_rng(0)
    head = {"weight": rng.normal(0, 0.05, (2, 1280)).astype(np.float32), "bias": np.zeros(2)}
    fp32 = ml.compose_classifier_onnx(BACKBONE, head)
    arrays = ml.preprocess_batch(images, BACKBONE)
    int8 = ml.quantize_classifier(fp32, ml.batched(list(arrays), 4))
    return fp32, int8, arrays


def test_the_int8_graph_is_smaller_and_answers_like_fp32(graphs):
    fp32, int8, arrays = graphs
    assert len(int8) < 0.4 * len(fp32)  # int8 weights: a quarter, plus scales and zero points
    expected = ml.onnx_probabilities(fp32, ml.batched(list(arrays), 5))
    got = ml.onnx_probabilities(int8, ml.batched(list(arrays), 5))
    assert got.shape == expected.shape == (len(arrays), 2)
    # The softmax stays float: rows are still probabilities, not steps of 1/255.
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(got - expected).max() < 0.1
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.9


def test_probabilities_do_not_depend_on_the_batching(graphs):
    _, int8, arrays = graphs
    whole = ml.onnx_probabilities(int8, [arrays])
    one_by_one = ml.onnx_probabilities(int8, ml.batched(list(arrays), 1))
    np.testing.assert_allclose(whole, one_by_one, atol=1e-5)


def test_quantizing_without_calibration_images_is_refused(graphs):
    fp32, _, _ = graphs
    with pytest.raises(ValueError):
        ml.quantize_classifier(fp32, [])


def test_speed_is_measured_for_one_image_and_for_a_batch(graphs):
    fp32, int8, arrays = graphs
    speeds = ml.measure_speeds({"fp32": fp32, "int8": int8}, arrays[0], seconds=0.1, batch=2)
    assert set(speeds) == {"fp32", "int8"}
    for speed in speeds.values():
        assert speed["latency_ms"] > 0
        assert speed["throughput_per_s"] > 0
        assert speed["threads"] == 1


def _standalone_script():
    spec = importlib.util.spec_from_file_location("bundle_predict", PREDICT_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", [(500, 375), (333, 500), (224, 224), (120, 90)])
@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite2"])
def test_the_shipped_preprocessing_is_the_platforms(size, backbone):
    """predict.py, fed preprocessing.json, computes the network input ml.preprocess does."""
    script = _standalone_script()
    rng = np.random.default_rng(1)
    picture = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    spec = ml.preprocessing_spec(backbone)
    np.testing.assert_allclose(
        script.preprocess(picture, spec), ml.preprocess(picture, backbone), atol=1e-6
    )


def test_the_predict_script_imports_no_platform_code():
    tree = ast.parse(PREDICT_SCRIPT.read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert imported <= {
        "__future__",
        "argparse",
        "json",
        "sys",
        "pathlib",
        "numpy",
        "onnxruntime",
        "PIL",
    }


def test_a_bundle_holds_the_files_and_the_expected_probabilities(graphs, hymenoptera):
    fp32, int8, _ = graphs
    photo = sorted((hymenoptera / "val" / "ants").glob("*.jpg"))[0].read_bytes()
    data = ml.build_bundle(
        fp32=fp32,
        int8=int8,
        labels=["ants", "bees"],
        backbone=BACKBONE,
        parity_images=[ml.ParityImage(name="ants-1.jpg", data=photo, label="ants")],
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        parity = json.loads(archive.read("parity.json"))
        spec = json.loads(archive.read("preprocessing.json"))
        assert archive.read("model.int8.onnx") == int8
    assert names == {
        "model.onnx",
        "model.int8.onnx",
        "labels.json",
        "preprocessing.json",
        "predict.py",
        "parity.json",
        "parity/ants-1.jpg",
    }
    assert spec["input_size"] == 224 and spec["resize_size"] == 256
    assert spec["channel_order"] == "RGB"
    (row,) = parity["images"]
    picture = ml.open_image(photo, max_pixels=10**8).image
    expected = ml.onnx_probabilities(int8, [ml.preprocess_batch([picture], BACKBONE)])[0]
    np.testing.assert_allclose(row["int8"], expected, atol=1e-6)
    assert row["file"] == "parity/ants-1.jpg" and len(row["fp32"]) == 2
