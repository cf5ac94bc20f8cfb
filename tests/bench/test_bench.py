"""Smoke tests for the benchmark helpers: tiny inputs, no TorchServe, no backbone except one slow test."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from bench.common import BenchResult, latency_summary, percentile, write_result
from bench.loadgen import check_loopback, run_load
from bench.torchserve.handler import OnnxImageClassifier, preprocess_image


def _jpeg(width: int, height: int, color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "JPEG")
    return buffer.getvalue()


def test_percentile_interpolates_like_numpy() -> None:
    samples = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0]
    for pct in (0, 50, 95, 99, 100):
        assert percentile(samples, pct) == pytest.approx(np.percentile(samples, pct))


def test_latency_summary_reports_milliseconds() -> None:
    summary = latency_summary([0.010, 0.020, 0.030], prefix="x_")
    assert summary["x_n"] == 3
    assert summary["x_median_ms"] == pytest.approx(20.0)
    assert summary["x_max_ms"] == pytest.approx(30.0)


def test_write_result_writes_json_and_markdown(tmp_path: Path) -> None:
    result = BenchResult(name="demo", title="Demo", params={"lr": 1e-4}, metrics={"acc_pct": 94.77})
    json_path, md_path = write_result(result, tmp_path / "out")
    stored = json.loads(json_path.read_text())
    assert stored["metrics"] == {"acc_pct": 94.77}
    assert stored["machine"]["cpu_count"] >= 1
    assert "| acc_pct | 94.77 |" in md_path.read_text()
    assert "lr=0.0001" in md_path.read_text()


def test_preprocess_matches_torchvision_eval_transform() -> None:
    from bench.reference import eval_transform

    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")  # lossless, so both paths see the same pixels
    ours = preprocess_image(buffer.getvalue())
    reference = eval_transform()(image).numpy()[np.newaxis]
    assert ours.shape == (1, 3, 224, 224) and ours.dtype == np.float32
    assert ours.min() >= -1.0 and ours.max() <= 1.0
    # Same geometry; PIL's and torchvision's bilinear filters differ by a few grey levels at most.
    assert np.abs(ours - reference).mean() < 0.02


def _tiny_classifier(path: Path) -> Path:
    """A 2-class ONNX model with the reference model's input/output names: pool -> linear -> softmax."""
    weights = helper.make_tensor("w", TensorProto.FLOAT, [3, 2], [1, -1, 0, 0, 0, 0])
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def test_handler_answers_top_class_and_probabilities(tmp_path: Path) -> None:
    _tiny_classifier(tmp_path / "model.onnx")
    (tmp_path / "index_to_name.json").write_text(json.dumps({"0": "ants", "1": "bees"}))
    context = SimpleNamespace(
        system_properties={"model_dir": str(tmp_path)},
        manifest={"model": {"serializedFile": "model.onnx"}},
        model_yaml_config={"handler": {"intra_op_threads": 1}},
    )
    handler = OnnxImageClassifier()
    handler.initialize(context)

    # Class 0's logit is the mean red value minus the mean green one: red images -> "ants".
    answers = handler.handle(
        [
            {"body": bytearray(_jpeg(224, 224, (220, 20, 20)))},
            {"data": _jpeg(50, 80, (20, 220, 20))},
        ],
        context,
    )
    assert [a["label"] for a in answers] == ["ants", "bees"]
    for answer in answers:
        assert set(answer["probabilities"]) == {"ants", "bees"}
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


class _Echo(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Echo.bodies.append(body)
        status = 200 if self.headers.get("X-Key") == "secret" else 401
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> str:
    _Echo.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/predict"
    server.shutdown()
    server.server_close()


def test_loadgen_sends_exactly_n_requests(echo_url: str) -> None:
    result = run_load(
        echo_url, body=b"jpeg-bytes", headers={"X-Key": "secret"}, requests=25, concurrency=4
    )
    assert result.ok == 25 and result.errors == 0
    assert result.throughput_rps > 0
    assert _Echo.bodies == [b"jpeg-bytes"] * 25
    assert result.summary("c4_")["c4_n"] == 25


def test_loadgen_multipart_and_error_counting(echo_url: str) -> None:
    result = run_load(echo_url, body=b"\xff\xd8photo", requests=3, multipart_field="image")
    assert result.ok == 0 and result.errors == 3
    assert result.status_counts == {"401": 3}
    assert all(b'name="image"' in body and b"\xff\xd8photo" in body for body in _Echo.bodies)


@pytest.mark.parametrize("url", ["http://example.com/x", "http://10.0.0.1:8000/x"])
def test_loadgen_refuses_remote_targets(url: str) -> None:
    with pytest.raises(ValueError, match="only targets this machine"):
        check_loopback(url)


@pytest.mark.slow
def test_linear_probe_quick_run(hymenoptera: Path, tmp_path: Path) -> None:
    from bench.reference_linear_probe import main

    result = main(["--quick", "--workers", "0", "--data", str(hymenoptera), "--out", str(tmp_path)])
    assert result.params["train_images"] == 16 and result.params["val_images"] == 16
    # Pretrained features separate ants from bees even on 16 images; chance is 50 %.
    assert result.metrics["val_accuracy_pct"] >= 75
    assert (tmp_path / "reference_linear_probe_quick.json").exists()


def test_rounds_are_combined_into_medians() -> None:
    from bench.run_all import combine_rounds

    def round_(ms: float, rps: float, target: str, runs: list[float]) -> dict:
        return {
            "name": "predict",
            "title": "Prediction",
            "params": {"requests": 200},
            "notes": ["a note"],
            "metrics": {
                "bakehouse_c1_median_ms": ms,  # a headline figure
                "bakehouse_c1_n": 200,
                "target_c8_throughput_ge_1_3x_torchserve": target,
                "warm_runs_s": runs,
                "database": "SQLite",
            },
        }

    combined = combine_rounds(
        [
            round_(12.0, 90, "MISSED", [0.3]),
            round_(30.0, 95, "met", [0.2]),
            round_(11.0, 97, "MISSED", [0.4]),
        ]
    )
    metrics = combined["metrics"]
    assert metrics["bakehouse_c1_median_ms"] == 12.0
    assert metrics["bakehouse_c1_median_ms_rounds"] == [12.0, 30.0, 11.0]
    assert metrics["bakehouse_c1_n"] == 200 and isinstance(metrics["bakehouse_c1_n"], int)
    assert metrics["target_c8_throughput_ge_1_3x_torchserve"] == "met in 1 of 3 rounds"
    assert metrics["warm_runs_s"] == [0.3, 0.2, 0.4]
    assert metrics["database"] == "SQLite"
    assert combined["params"]["rounds"] == 3
    assert combined["notes"][0].startswith("Median of 3 rounds")


def test_process_tree_cpu_counts_a_busy_descendant() -> None:
    import subprocess
    import sys
    import time

    import psutil

    from bench.common import process_tree_cpu_s

    # A parent that only waits, and its child, which burns 0.5 s of CPU and then sleeps.
    busy = (
        "import time\n"
        "start = time.process_time()\n"
        "while time.process_time() - start < 0.5:\n    pass\n"
        "time.sleep(30)\n"
    )
    waiter = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {busy!r}])"
    parent = subprocess.Popen([sys.executable, "-c", waiter])
    try:
        before = process_tree_cpu_s(parent.pid)
        deadline = time.monotonic() + 20
        while process_tree_cpu_s(parent.pid) - before < 0.45 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process_tree_cpu_s(parent.pid) - before >= 0.45
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()


def test_serving_session_cpu_is_reported_per_image(tmp_path: Path) -> None:
    from bench.bench_predict import _serving_session_cpu

    model = tmp_path / "model.onnx"
    _tiny_classifier(model)
    figures = _serving_session_cpu(model, runs=8)
    assert set(figures) == {f"ort_cpu_ms_per_image_t{t}_b{b}" for t in (1, 2) for b in (1, 4)}
    assert all(value >= 0 for value in figures.values())


def test_http_floor_server_reads_the_body_and_answers() -> None:
    import httpx

    from bench.http_floor import ANSWER, serve

    with serve(workers=1, threads=2) as url:
        response = httpx.post(url, files={"image": ("a.jpg", _jpeg(224, 224))})
    assert response.status_code == 200
    assert response.content == ANSWER


def test_component_clock_takes_nested_components_out_of_the_outer_one() -> None:
    """The request-path benchmark times the rate count inside the key check: each must get
    its own time, and the framework's share (total minus the components) must not go
    negative from counting the inner one twice."""
    import time as clock_time

    from bench.bench_request_path import ComponentClock

    class Path_:
        @staticmethod
        def inner() -> None:
            clock_time.sleep(0.02)

        @staticmethod
        def outer() -> None:
            clock_time.sleep(0.01)
            Path_.inner()

    clock = ComponentClock()
    clock.wrap(Path_, "inner", "rate count")
    clock.wrap(Path_, "outer", "key check")
    Path_.outer()
    clock.request_done(total_ms=40.0)
    request = clock.requests[0]
    assert 15 <= request["rate count"] < 30
    assert 8 <= request["key check"] < 18  # its own 10 ms, not the 30 ms it lasted
    medians = clock.medians()
    assert medians["framework"] == pytest.approx(
        40.0 - request["rate count"] - request["key check"], abs=0.01
    )
