"""INT8 compression of a classifier's ONNX graph: static quantization calibrated on the
project's own images, and the measurements that say what it costs and gains.

Static (not dynamic) quantization: the activations' ranges are fixed from calibration
images, so convolutions run as integer kernels without measuring each input at run time.
Weights are quantized per output channel, which keeps EfficientNet's depthwise layers (very
different ranges from one channel to the next) accurate. The calibration images go through
``preprocess``, the same function serving feeds the model with.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from apps.ml.embedding import session_options

# Only these operators are quantized. The Softmax at the end stays float: quantized, its
# probabilities would move in steps of 1/255; the head (Gemm) is a [1280 x C] product that
# costs nothing and keeps the decision boundary exact.
QUANTIZED_OPS = ("Conv", "Clip", "Relu", "Add", "Mul", "GlobalAveragePool", "AveragePool")


class _Batches:
    """``onnxruntime.quantization.CalibrationDataReader`` over preprocessed batches."""

    def __init__(self, input_name: str, batches: Iterable[np.ndarray]) -> None:
        self.input_name = input_name
        self._batches: Iterator[np.ndarray] = iter(batches)
        self.count = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        if batch is None:
            return None
        self.count += len(batch)
        return {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}


def quantize_classifier(onnx_bytes: bytes, calibration_batches: Iterable[np.ndarray]) -> bytes:
    """A float32 classifier graph -> the same graph statically quantized to INT8
    (QOperator format, uint8 activations, int8 weights per channel, MinMax calibration on
    ``calibration_batches``: float32 [N, 3, H, W] arrays from ``preprocess_batch``).

    QOperator rather than QDQ: timed side by side on the 2-core AVX2 machine (no VNNI), one
    image of EfficientNet-Lite0 took 8.8 ms as QOperator, 11.9 ms as QDQ (fp32: 16.7 ms),
    with the same hymenoptera val accuracy. ``reduce_range`` (7-bit weights) is ONNX
    Runtime's advice for AVX2, whose u8 x s8 multiply-add can saturate; accuracy was the
    same without it, so it costs nothing. MinMax calibration: Percentile and Entropy took 2
    to 3 times as long and were within one val image of it. Raises ValueError without
    calibration images."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="bakehouse-int8-") as folder:
        source, prepared, target = (
            Path(folder) / "fp32.onnx",
            Path(folder) / "prepared.onnx",
            Path(folder) / "int8.onnx",
        )
        source.write_bytes(onnx_bytes)
        # Shape inference and graph folding first, as ONNX Runtime recommends: the
        # quantizer needs every tensor's shape, and fused operators quantize as one.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        input_name = (
            ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"])
            .get_inputs()[0]
            .name
        )
        reader = _Batches(input_name, calibration_batches)
        quantize_static(
            str(prepared),
            str(target),
            reader,
            quant_format=QuantFormat.QOperator,
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
        if reader.count == 0:
            raise ValueError("Quantization needs at least one calibration image.")
        return target.read_bytes()


def onnx_probabilities(
    onnx_bytes: bytes, batches: Iterable[np.ndarray], *, threads: int = 1
) -> np.ndarray:
    """Class probabilities [N, C] of a classifier graph (float32 or INT8) on preprocessed
    batches, in order: how a model version's int8 file is evaluated on the held-out images."""
    session = ort.InferenceSession(
        onnx_bytes, sess_options=session_options(threads), providers=["CPUExecutionProvider"]
    )
    name = session.get_inputs()[0].name
    rows = [
        session.run(None, {name: np.ascontiguousarray(batch, dtype=np.float32)})[0]
        for batch in batches
    ]
    if not rows:
        classes = session.get_outputs()[0].shape[-1]
        return np.zeros((0, classes if isinstance(classes, int) else 0), np.float32)
    return np.concatenate(rows)


def measure_speeds(
    graphs: dict[str, bytes],
    sample: np.ndarray,
    *,
    seconds: float = 1.0,
    batch: int = 8,
    rounds: int = 3,
) -> dict[str, dict[str, Any]]:
    """Brief timings of classifier graphs on one thread each (a serving process under load
    has one core per call), by name: ``latency_ms``, the median of single-image calls, and
    ``throughput_per_s``, images per second in batches of ``batch``. The graphs take turns
    for ``rounds`` rounds (about ``seconds`` per graph in all), so that a machine busy with
    something else slows them alike; each figure is the median of its rounds. ``sample`` is
    one preprocessed image [3, H, W] or [1, 3, H, W]."""
    sessions = {
        name: ort.InferenceSession(
            graph, sess_options=session_options(1), providers=["CPUExecutionProvider"]
        )
        for name, graph in graphs.items()
    }
    one = np.ascontiguousarray(sample.reshape(1, *sample.shape[-3:]), dtype=np.float32)
    many = np.ascontiguousarray(np.repeat(one, batch, axis=0))
    share = seconds / (2 * rounds)
    single: dict[str, list[float]] = {name: [] for name in graphs}
    batched_ms: dict[str, list[float]] = {name: [] for name in graphs}
    for _ in range(rounds):
        for name, session in sessions.items():
            input_name = session.get_inputs()[0].name
            single[name].append(_median_ms(session, input_name, one, share))
            batched_ms[name].append(_median_ms(session, input_name, many, share))
    return {
        name: {
            "latency_ms": round(float(np.median(single[name])), 3),
            "throughput_per_s": round(batch * 1000.0 / float(np.median(batched_ms[name])), 1),
            "threads": 1,
        }
        for name in graphs
    }


def _median_ms(
    session: ort.InferenceSession, name: str, batch: np.ndarray, seconds: float
) -> float:
    session.run(None, {name: batch})  # warm-up: first-call allocations
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(samples) < 3 or (time.perf_counter() < deadline and len(samples) < 200):
        started = time.perf_counter()
        session.run(None, {name: batch})
        samples.append((time.perf_counter() - started) * 1000.0)
    return float(np.median(samples))


def batched(arrays: Sequence[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Preprocessed images [3, H, W] -> stacked batches of at most ``size``."""
    for start in range(0, len(arrays), size):
        yield np.stack(arrays[start : start + size])
