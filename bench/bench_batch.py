"""Batch prediction: throughput per worker core against the bare ONNX Runtime ceiling, and a
10,000-image batch end to end.

A quick-mode model (EfficientNet-Lite0 features + a linear head, composed into one ONNX
graph exactly as quick training composes it, with an out-of-distribution reference) is
saved as a ModelVersion and deployed. Small JPEGs (random crops of the hymenoptera photos,
resized to 160-400 px, so no two are alike) are packed into a zip.

- ceiling: the same graph in a bare ONNX Runtime session (one intra-op thread), the same
  JPEGs decoded and preprocessed by the TorchServe reference handler, batch 1, nothing else;
- batch: ``batches.run_batch``'s body (``batch_job_run``: reading the zip from the media
  storage, decoding within the pixel budget, preprocessing, the model in chunks, writing the
  rows in transactions with the job's progress) on the same images.

Both run pinned to ONE core (``sched_setaffinity``), so images per second there is images per
second per worker core (a Celery worker process uses one core); CPU seconds are also given.
Then a batch of ``--images`` (default 10,000) runs end to end and its rows are counted.
The database is a throw-away SQLite file, as in the other in-process benchmarks.

    .venv/bin/python -m bench.bench_batch [--images 10000] [--ceiling-images 300] [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image

from bench.common import BenchResult, add_common_args, own_cpu_s, peak_rss_mb, write_result

BACKBONE = "efficientnet_lite0"
LABELS = ("ants", "bees")


def _setup_django(var_dir: Path) -> None:
    os.environ["BAKEHOUSE_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bakehouse.settings.test"
    os.environ.pop("DATABASE_URL", None)  # always a throw-away SQLite file under var_dir
    os.environ["MEDIA_ROOT"] = str(var_dir / "media")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _sources(data: Path) -> list[Image.Image]:
    """Every photo of the data set, shrunk to at most 480 px (the variants are smaller)."""
    pictures = []
    for path in sorted(data.glob("*/*/*.jpg")):
        with Image.open(path) as image:
            picture = image.convert("RGB")
        picture.thumbnail((480, 480))
        pictures.append(picture)
    if not pictures:
        raise SystemExit(f"no .jpg photos under {data}")
    return pictures


def make_jpegs(data: Path, count: int, *, seed: int = 0) -> list[bytes]:
    """``count`` small JPEGs: a random crop (50-100 % of each side) of a photo, resized so
    its longer side is 160-400 px, quality 80-92."""
    rng = random.Random(seed)
    sources = _sources(data)
    jpegs = []
    for index in range(count):
        picture = sources[index % len(sources)]
        width, height = picture.size
        w = int(width * rng.uniform(0.5, 1.0))
        h = int(height * rng.uniform(0.5, 1.0))
        left, top = rng.randint(0, width - w), rng.randint(0, height - h)
        crop = picture.crop((left, top, left + w, top + h))
        side = rng.randint(160, 400)
        scale = side / max(w, h)
        crop = crop.resize((max(1, round(w * scale)), max(1, round(h * scale))))
        buffer = io.BytesIO()
        crop.save(buffer, "JPEG", quality=rng.randint(80, 92))
        jpegs.append(buffer.getvalue())
    return jpegs


def make_zip(jpegs: list[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index, data in enumerate(jpegs):
            archive.writestr(f"images/{index // 1000:02d}/img_{index:05d}.jpg", data)
    return buffer.getvalue()


def _model() -> tuple[bytes, bytes]:
    """(ONNX graph, out-of-distribution reference) of a quick-mode model on random features:
    the latency does not depend on the head's values."""
    import numpy as np

    from apps.ml import QuickSpec, compose_classifier_onnx, fit_quick
    from apps.training.health.reference import ood_reference_bytes

    rng = np.random.default_rng(0)
    features = rng.normal(size=(64, 1280)).astype(np.float32)
    targets = np.arange(64) % 2
    result = fit_quick(
        features, targets, spec=QuickSpec(backbone=BACKBONE, labels=LABELS, steps=20)
    )
    reference = rng.normal(size=(400, 1280)).astype(np.float32)
    return compose_classifier_onnx(BACKBONE, result.head_state), ood_reference_bytes(reference)


def _deployment(onnx: bytes, ood: bytes) -> Any:
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from apps.deployments.services import deployment_create
    from apps.projects.models import Project
    from apps.training.models import ModelVersion

    user = get_user_model().objects.create_user(username="bench", password="bench-pass-1")
    project = Project.objects.create(owner=user, name="Batch bench")
    version = ModelVersion.objects.create(
        project=project,
        number=1,
        backbone=BACKBONE,
        mode="quick",
        labels=list(LABELS),
        metrics={"accuracy": 0.9},
        onnx_file=default_storage.save(f"models/{project.pk}/v1/model.onnx", ContentFile(onnx)),
        ood_file=default_storage.save(f"models/{project.pk}/v1/ood.npy", ContentFile(ood)),
    )
    return deployment_create(project=project, model_version_id=version.pk, created_by=user)


def ceiling(onnx_path: Path, jpegs: list[bytes]) -> dict[str, float]:
    """Bare ONNX Runtime: decode + preprocess + forward, batch 1, one thread."""
    from bench.onnx_forward import make_session
    from bench.torchserve.handler import preprocess_image

    session = make_session(onnx_path, threads=1)
    name = session.get_inputs()[0].name
    for data in jpegs[:10]:
        session.run(None, {name: preprocess_image(data)})
    cpu, wall = own_cpu_s(), time.perf_counter()
    for data in jpegs:
        session.run(None, {name: preprocess_image(data)})
    cpu, wall = own_cpu_s() - cpu, time.perf_counter() - wall
    return {"images": len(jpegs), "wall_s": wall, "cpu_s": cpu}


class _NoBroker:
    """The job's message goes nowhere: this process runs the task's body itself, timed."""

    def apply_async(self, *args: Any, **kwargs: Any) -> None:
        return None


def _dispatch_nowhere() -> None:
    import dataclasses

    from apps.batches.models import BatchJob
    from apps.core.jobs import kind_for, register

    register(dataclasses.replace(kind_for(BatchJob), task=_NoBroker()))


def run_batch(deployment: Any, jpegs: list[bytes]) -> tuple[Any, dict[str, float]]:
    """Submit a zip of ``jpegs`` and run the batch's task body in this process."""
    from django.core.files.base import ContentFile

    from apps.batches.services import batch_create, batch_job_run

    archive = ContentFile(make_zip(jpegs), name="bench.zip")
    batch = batch_create(deployment=deployment, archive=archive)
    cpu, wall = own_cpu_s(), time.perf_counter()
    batch = batch_job_run(job_id=batch.pk)
    cpu, wall = own_cpu_s() - cpu, time.perf_counter() - wall
    return batch, {"images": len(jpegs), "wall_s": wall, "cpu_s": cpu}


def _rate(figures: dict[str, float], key: str) -> float:
    return figures["images"] / figures[key] if figures[key] else 0.0


def run(args: argparse.Namespace) -> BenchResult:
    images = 300 if args.quick else args.images
    sample = min(args.ceiling_images, images)
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[-1]})  # one worker core (every thread of this process)
    with tempfile.TemporaryDirectory() as tmp:
        var_dir = Path(tmp)
        _setup_django(var_dir)
        _dispatch_nowhere()
        from apps.batches.models import BatchItem
        from apps.batches.results import results_csv

        started = time.perf_counter()
        jpegs = make_jpegs(args.data, images)
        generate_s = time.perf_counter() - started
        onnx, ood = _model()
        onnx_path = var_dir / "model.onnx"
        onnx_path.write_bytes(onnx)
        deployment = _deployment(onnx, ood)

        subset = jpegs[:sample]
        run_batch(deployment, jpegs[:20])  # loads the model once, as a warm worker has it
        bare = ceiling(onnx_path, subset)
        _, batched = run_batch(deployment, subset)

        big, full = run_batch(deployment, jpegs)
        rows = BatchItem.objects.filter(batch=big).count()
        distinct = BatchItem.objects.filter(batch=big).values("index").distinct().count()
        csv_lines = sum(1 for _ in results_csv(big)) - 1

    per_core = {
        "ceiling_images_per_s": round(_rate(bare, "wall_s"), 1),
        "batch_images_per_s": round(_rate(batched, "wall_s"), 1),
        "ceiling_images_per_cpu_s": round(_rate(bare, "cpu_s"), 1),
        "batch_images_per_cpu_s": round(_rate(batched, "cpu_s"), 1),
    }
    wall_ratio = per_core["batch_images_per_s"] / per_core["ceiling_images_per_s"]
    cpu_ratio = per_core["batch_images_per_cpu_s"] / per_core["ceiling_images_per_cpu_s"]
    return BenchResult(
        name="bench_batch" + ("_quick" if args.quick else ""),
        title="Batch prediction: throughput per worker core vs bare ONNX Runtime, and a large batch",
        params={
            "images": images,
            "ceiling_images": sample,
            "backbone": BACKBONE,
            "pinned_to_core": cores[-1],
            "chunk": 32,
        },
        metrics={
            **per_core,
            "batch_vs_ceiling_wall_pct": round(100 * wall_ratio, 1),
            "batch_vs_ceiling_cpu_pct": round(100 * cpu_ratio, 1),
            "large_batch_status": str(big.status),
            "large_batch_rows": rows,
            "large_batch_distinct_indices": distinct,
            "large_batch_csv_rows": csv_lines,
            "large_batch_failed_rows": big.failed,
            "large_batch_wall_s": round(full["wall_s"], 1),
            "large_batch_images_per_s": round(_rate(full, "wall_s"), 1),
            "jpeg_generation_s": round(generate_s, 1),
            "mean_jpeg_kb": round(sum(map(len, jpegs)) / len(jpegs) / 1024, 1),
            **peak_rss_mb(),
        },
        notes=[
            "One core: the process (every thread) is pinned to one CPU, as one Celery worker "
            "process uses one core; images/s there is images/s per worker core.",
            "ceiling: bare onnxruntime session (1 intra-op thread), TorchServe reference "
            "preprocessing (PIL decode, resize 256, crop 224), batch 1, no I/O.",
            "batch: batch_job_run as the worker runs it: zip read from the media storage, "
            "decode within the pixel budget, ml.preprocess_batch, the serving runner in chunks "
            "of 32, rows + progress committed per chunk (SQLite).",
            "The machine is shared (2 cores, other work running): wall figures are noisier "
            "than CPU figures.",
        ],
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--images", type=int, default=10_000, help="images in the large batch")
    parser.add_argument(
        "--ceiling-images", type=int, default=300, help="images timed for the ceiling comparison"
    )
    args = parser.parse_args(argv)
    result = run(args)
    write_result(result, args.out)
    for key, value in result.metrics.items():
        print(f"{key}: {value}")
    return result


if __name__ == "__main__":
    main()
