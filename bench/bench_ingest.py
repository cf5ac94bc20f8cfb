"""Ingestion throughput through the real platform: single-file uploads, multi-file uploads and a
zip import, in images per second.

Images are synthetic ~500 KB JPEGs (960x720 uniform noise, quality 85, a different seed each, so
none is a duplicate of another), generated before each timed block. Every image goes to
``POST /api/v1/projects/{id}/images/`` (multipart ``files``, with a label and a split) or, for
the zip, ``POST /projects/{id}/imports/`` followed by polling ``GET /imports/{id}/`` until the
import job has stored every image. Embedding-on-ingest is off by default (``--embed-on-ingest``
turns it on), so the figure is storing + validating images, not computing embeddings.

    .venv/bin/python -m bench.bench_ingest [--quick] [--zip-images 1000]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import BenchResult, add_common_args, stopwatch, write_result
from bench.platform_run import (
    _expect,
    create_project,
    import_zip,
    machine_facts,
    machine_note,
    start_platform,
)

WIDTH, HEIGHT, QUALITY = 960, 720, 85


def noise_jpeg(seed: int) -> bytes:
    """A JPEG of uniform noise: about 500 KB, and unique per seed."""
    pixels = np.random.default_rng(seed).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=QUALITY)
    return buffer.getvalue()


def _upload(client: Any, project_id: int, batch: list[tuple[str, bytes]], label: str) -> int:
    files = [("files", (name, data, "image/jpeg")) for name, data in batch]
    report = _expect(
        client.post(
            f"/api/v1/projects/{project_id}/images/",
            data={"label": label, "split": "train"},
            files=files,
        ),
        201,
    )
    if len(report.get("created", [])) != len(batch):
        raise RuntimeError(f"not every image was stored: {str(report)[:400]}")
    return len(batch)


def run(args: argparse.Namespace) -> BenchResult:
    metrics: dict[str, Any] = {}
    sizes: list[int] = []
    seed = 0

    def images(count: int) -> list[tuple[str, bytes]]:
        nonlocal seed
        made = []
        for _ in range(count):
            data = noise_jpeg(seed)
            sizes.append(len(data))
            made.append((f"noise-{seed:06d}.jpg", data))
            seed += 1
        return made

    extra_env = {"BAKEHOUSE_EMBED_ON_INGEST": "true" if args.embed_on_ingest else "false"}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        tmp_path = Path(tmp)
        live = start_platform(tmp_path / "var", extra_env=extra_env)
        try:
            client, _ = live.signup()
            with client:
                project = create_project(client, "Ingest benchmark", ["noise"])
                pid = project["id"]

                batch = images(args.single)
                with stopwatch() as single:
                    for item in batch:
                        _upload(client, pid, [item], "noise")
                metrics["single_file_images"] = len(batch)
                metrics["single_file_images_per_s"] = round(len(batch) / single["s"], 2)
                metrics["single_file_ms_per_request"] = round(1000 * single["s"] / len(batch), 1)

                batch = images(args.multi)
                size = args.batch_size
                with stopwatch() as multi:
                    for start in range(0, len(batch), size):
                        _upload(client, pid, batch[start : start + size], "noise")
                metrics["multi_file_images"] = len(batch)
                metrics["multi_file_batch_size"] = size
                metrics["multi_file_images_per_s"] = round(len(batch) / multi["s"], 2)
                metrics["multi_file_ms_per_request"] = round(
                    1000 * multi["s"] / -(-len(batch) // size), 1
                )

                zip_path = tmp_path / "noise.zip"
                count = 0
                with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as archive:
                    # Generated in chunks so 1,000 images never sit in memory at once.
                    while count < args.zip_images:
                        for name, data in images(min(100, args.zip_images - count)):
                            archive.writestr(f"noise/train/noise/{name}", data)
                            count += 1
                with stopwatch() as zipped:
                    job = import_zip(client, pid, zip_path, timeout=args.timeout)
                if job["status"] != "succeeded":
                    raise RuntimeError(f"import failed: {str(job)[:400]}")
                metrics["zip_images"] = count
                metrics["zip_mb"] = round(zip_path.stat().st_size / 2**20, 1)
                metrics["zip_import_s"] = round(zipped["s"], 2)
                metrics["zip_images_per_s"] = round(count / zipped["s"], 2)
                stats = _expect(client.get(f"/api/v1/projects/{pid}/stats/"), 200)
                metrics["stored_images_total"] = stats.get("total", stats.get("images"))
        finally:
            live.stop()

    metrics["mean_jpeg_kb"] = round(sum(sizes) / len(sizes) / 1024, 1)
    if metrics.get("single_file_images_per_s"):
        metrics["ratio_multi_over_single"] = round(
            metrics["multi_file_images_per_s"] / metrics["single_file_images_per_s"], 2
        )
        metrics["ratio_zip_over_single"] = round(
            metrics["zip_images_per_s"] / metrics["single_file_images_per_s"], 2
        )
    return BenchResult(
        name="ingest" + ("_quick" if args.quick else ""),
        title="Ingestion: images per second through the API (single, multi-file, zip import)",
        params={
            "jpeg": f"{WIDTH}x{HEIGHT} noise q{QUALITY}",
            "embed_on_ingest": args.embed_on_ingest,
            **machine_facts(),
        },
        metrics=metrics,
        notes=[
            machine_note(),
            "single/multi: sequential requests from one client, each answered 201 with every "
            "file created; zip: upload + import job until GET imports/{id}/ says succeeded "
            "(polled every 0.1 s).",
            "One client at a time; gunicorn 2 workers x 4 threads; SQLite; media on local disk.",
        ],
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser, dataset=False)
    parser.add_argument("--single", type=int, default=100, help="images sent one per request")
    parser.add_argument("--multi", type=int, default=200, help="images sent in batches")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--zip-images", type=int, default=1000)
    parser.add_argument("--embed-on-ingest", action="store_true")
    parser.add_argument("--timeout", type=float, default=900.0, help="zip import, seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.single, args.multi, args.zip_images = 20, 40, 100
    started = time.perf_counter()
    result = run(args)
    result.metrics["bench_wall_s"] = round(time.perf_counter() - started, 1)
    write_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
