"""Reference: the bare in-process ONNX Runtime forward pass of the exported classifier.

The classifier is EfficientNet-Lite0 + a 2-class linear head + softmax, exported from eager
PyTorch (``export_reference_onnx``); ``--model PATH.onnx`` times any other model with the same
1x3x224x224 input instead (e.g. a platform ModelVersion). Times, with 2 intra-op threads and
batch 1: the forward pass alone on a preprocessed input, and "decode a 224x224 JPEG + preprocess +
forward" with the same preprocessing the TorchServe handler uses.

    .venv/bin/python -m bench.onnx_forward [--model PATH.onnx] [--runs 200] [--quick]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import onnxruntime as ort
from PIL import Image

from bench.common import (
    DEFAULT_DATASET,
    BenchResult,
    add_common_args,
    latency_summary,
    peak_rss_mb,
    stopwatch,
    time_calls,
    write_result,
)
from bench.torchserve.handler import preprocess_image

INPUT_NAME, OUTPUT_NAME = "input", "probabilities"


def export_reference_onnx(path: Path | str, *, num_classes: int = 2, seed: int = 0) -> Path:
    """Export backbone + ``Linear(1280, num_classes)`` + softmax from eager PyTorch to ONNX.

    The head is randomly initialised (seeded): latency does not depend on its values. Input
    ``input`` (N x 3 x 224 x 224, batch axis dynamic), output ``probabilities`` (N x classes).
    """
    import torch

    from bench.reference import load_backbone

    torch.manual_seed(seed)
    model = torch.nn.Sequential(load_backbone(num_classes=num_classes), torch.nn.Softmax(dim=1))
    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1, max=256)
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, 224, 224),),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: batch},),
        external_data=False,  # one self-contained file, as a .mar or a ModelVersion stores it
        dynamo=True,
    )
    return path


def make_session(path: Path | str, *, threads: int = 2) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def sample_jpeg(dataset: Path = DEFAULT_DATASET, *, size: int = 224, quality: int = 90) -> bytes:
    """A real photo from ``val/`` (first file of the first class), resized to size x size, as JPEG."""
    classes = sorted(p for p in (dataset / "val").iterdir() if p.is_dir())
    photo = sorted(p for p in classes[0].iterdir() if p.suffix.lower() in {".jpg", ".jpeg"})[0]
    buffer = io.BytesIO()
    Image.open(photo).convert("RGB").resize((size, size)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def run(args: argparse.Namespace) -> BenchResult:
    runs = 20 if args.quick else args.runs
    warmup = 5 if args.quick else args.warmup
    with tempfile.TemporaryDirectory() as tmp:
        exported = args.model is None
        export_s = None
        model_path = args.model
        if exported:
            with stopwatch() as export_time:
                model_path = export_reference_onnx(Path(tmp) / "reference.onnx")
            export_s = round(export_time["s"], 2)
        with stopwatch() as load_time:
            session = make_session(model_path, threads=args.threads)
        model_mb = round(Path(model_path).stat().st_size / 2**20, 2)
        input_name = session.get_inputs()[0].name

        jpeg = sample_jpeg(args.data)
        tensor = preprocess_image(jpeg)
        probabilities = session.run(None, {input_name: tensor})[0]

        def forward() -> None:
            session.run(None, {input_name: tensor})

        def end_to_end() -> None:
            session.run(None, {input_name: preprocess_image(jpeg)})

        forward_s = time_calls(forward, runs=runs, warmup=warmup)
        e2e_s = time_calls(end_to_end, runs=runs, warmup=warmup)
        preprocess_s = time_calls(lambda: preprocess_image(jpeg), runs=runs, warmup=warmup)

    return BenchResult(
        name="onnx_forward" + ("_quick" if args.quick else ""),
        title="Reference: in-process ONNX Runtime forward pass, batch 1",
        params={
            "model": str(args.model) if args.model else "reference export (lite0 + 2-class head)",
            "intra_op_threads": args.threads,
            "runs": runs,
            "warmup": warmup,
            "jpeg_bytes": len(jpeg),
        },
        metrics={
            **latency_summary(forward_s, "forward_"),
            **{
                k: v
                for k, v in latency_summary(e2e_s, "decode_preprocess_forward_").items()
                if not k.endswith("_n")
            },
            "preprocess_median_ms": latency_summary(preprocess_s)["median_ms"],
            "session_load_s": round(load_time["s"], 3),
            **({"export_s": export_s} if export_s is not None else {}),
            "model_mb": model_mb,
            "output_sum": round(float(probabilities.sum()), 4),
            **peak_rss_mb(),
        },
        notes=[
            "forward_*: session.run on an already preprocessed 1x3x224x224 array.",
            "decode_preprocess_forward_*: PIL decode of a 224x224 JPEG, resize 256, centre-crop "
            "224, normalise, then session.run (bench/torchserve/handler.py:preprocess_image).",
        ],
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--model", type=Path, default=None, help="time this ONNX file instead")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="ORT intra-op threads")
    args = parser.parse_args(argv)
    result = run(args)
    write_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
