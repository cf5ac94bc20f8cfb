"""Embedding fan-out: how fast a large upload is embedded with 1 and with 2 worker processes.

A large upload (``--images``, 800 by default) is made of the hymenoptera photos repeated with
small variations (a brightness step and a few stamped pixels per copy, re-encoded), so that
every file is distinct and none is refused as a duplicate. For each setting of the default
queue's concurrency (1, then 2 worker processes), a fresh platform (embedded stack,
embedding on ingest on) is started, warmed up (the backbone's feature graph is built once
into a shared ML cache, and each worker process has embedded a few images), and then the
upload is sent in requests of 50 images by one client. Each request's images become
background embedding jobs (``apps.training.embeddings``: chunks of at most 128 images, one
ONNX Runtime thread each), spread over the worker processes.

Two figures per setting, read from the platform's own database (SQLite, read-only):

* ``*_upload_to_embedded_images_per_s``: images / (first upload request sent -> last
  embedding stored), what a user waits for;
* ``*_embedding_images_per_s``: images / (first embedding job started -> last one finished),
  the workers alone.

On 2 cores the ratio stays under 2x: the web process decoding and storing the upload, the
load generator and the database share the same two cores with the embedding workers.

    .venv/bin/python -m bench.bench_embed_scale [--quick] [--images 800] [--data PATH]
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageEnhance

from apps.core.processes import Platform, PlatformConfig, free_port
from bench.common import BenchResult, add_common_args, write_result
from bench.platform_run import (
    BenchPlatform,
    _expect,
    create_project,
    machine_facts,
    machine_note,
)

UPLOAD_BATCH = 50
POLL_S = 0.2


def source_photos(data: Path) -> list[Path]:
    photos = sorted(p for p in data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not photos:
        raise SystemExit(f"no JPEG photos under {data}")
    return photos


def make_variants(photos: list[Path], count: int, folder: Path) -> list[Path]:
    """``count`` distinct JPEGs: copy i of a photo is 1 % brighter per round over the photos
    and carries a few stamped pixels encoding i (so no two files are byte-identical)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        photo = photos[i % len(photos)]
        round_number = i // len(photos)
        with Image.open(photo) as original:
            image = original.convert("RGB")
        if round_number:
            image = ImageEnhance.Brightness(image).enhance(1.0 + 0.01 * round_number)
        for bit in range(12):
            value = 255 if (i >> bit) & 1 else 0
            image.putpixel((bit, 0), (value, value, value))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        path = folder / f"{photo.stem}-{i:05d}.jpg"
        path.write_bytes(buffer.getvalue())
        out.append(path)
    return out


def _upload(client: Any, project_id: int, paths: list[Path]) -> None:
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]
    report = _expect(client.post(f"/api/v1/projects/{project_id}/images/", files=files), 201)
    if len(report.get("created", [])) != len(paths):
        raise RuntimeError(f"not every image was stored: {str(report)[:400]}")


class Database:
    """Read-only looks at the platform's SQLite database: embeddings and embedding jobs."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def embedded(self, project_id: int) -> int:
        row = self.connection.execute(
            "SELECT count(*) FROM training_embedding e JOIN datasets_image i ON i.id = e.image_id"
            " WHERE i.project_id = ?",
            (project_id,),
        ).fetchone()
        return int(row[0])

    def jobs(self, project_id: int) -> list[tuple[str, str | None, str | None, str]]:
        return self.connection.execute(
            "SELECT status, started_at, finished_at, worker FROM training_embeddingjob"
            " WHERE project_id = ?",
            (project_id,),
        ).fetchall()

    def close(self) -> None:
        self.connection.close()


def _when(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def wait_embedded(db: Database, project_id: int, count: int, timeout: float) -> float:
    """Block until ``count`` images of the project have an embedding; returns when (perf)."""
    deadline = time.monotonic() + timeout
    while True:
        if db.embedded(project_id) >= count:
            return time.perf_counter()
        failed = [job for job in db.jobs(project_id) if job[0] == "failed"]
        if failed:
            raise RuntimeError(f"{len(failed)} embedding job(s) failed")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{db.embedded(project_id)} of {count} embedded in {timeout:.0f} s")
        time.sleep(POLL_S)


def run_setting(
    processes: int, variants: list[Path], warmup: list[Path], tmp: Path, timeout: float
) -> dict[str, Any]:
    var_dir = tmp / f"var-{processes}"
    config = PlatformConfig(
        port=free_port(),
        var_dir=var_dir,
        redis_url=None,
        log_to_files=True,
        restart_crashed=False,
        default_concurrency=processes,
        extra_env={
            "DEBUG": "false",
            "BAKEHOUSE_EMBED_ON_INGEST": "true",
            # One ML cache for both settings: the feature graph is built once.
            "BAKEHOUSE_ML_CACHE": str(tmp / "ml-cache"),
        },
    )
    platform = Platform(config)
    platform.prepare()
    try:
        platform.start()
        platform.workers_ready(timeout=120)
        db = Database(var_dir / "bakehouse.sqlite3")
        live = BenchPlatform(
            platform=platform, url=platform.url, var_dir=var_dir, stop=platform.stop
        )
        client, _ = live.signup()
        with client:
            # Warm-up: one small request per worker process (graph built, sessions loaded).
            warm = create_project(client, "Embedding warm-up", [])
            per = max(1, len(warmup) // processes)
            for start in range(0, per * processes, per):
                _upload(client, warm["id"], warmup[start : start + per])
            wait_embedded(db, warm["id"], per * processes, timeout)

            project = create_project(client, "Embedding fan-out", [])
            started = time.perf_counter()
            for start in range(0, len(variants), UPLOAD_BATCH):
                _upload(client, project["id"], variants[start : start + UPLOAD_BATCH])
            uploaded = time.perf_counter()
            done = wait_embedded(db, project["id"], len(variants), timeout)
        jobs = db.jobs(project["id"])
        db.close()
    finally:
        platform.stop()
    first = min(_when(job[1]) for job in jobs if job[1])
    last = max(_when(job[2]) for job in jobs if job[2])
    workers = {job[3] for job in jobs}
    n = len(variants)
    prefix = f"p{processes}_"
    return {
        f"{prefix}upload_s": round(uploaded - started, 2),
        f"{prefix}upload_to_embedded_s": round(done - started, 2),
        f"{prefix}upload_to_embedded_images_per_s": round(n / (done - started), 2),
        f"{prefix}embedding_span_s": round(last - first, 2),
        f"{prefix}embedding_images_per_s": round(n / (last - first), 2),
        f"{prefix}embedding_jobs": len(jobs),
        f"{prefix}worker_processes_used": len(workers),
    }


def run(args: argparse.Namespace) -> BenchResult:
    photos = source_photos(args.data)
    metrics: dict[str, Any] = {"images": args.images}
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        tmp_path = Path(tmp)
        variants = make_variants(photos, args.images, tmp_path / "upload")
        warmup = make_variants(photos[::-1], 4, tmp_path / "warmup")
        for processes in (1, 2):
            print(f"embedding {args.images} images with {processes} worker process(es)...")
            metrics.update(run_setting(processes, variants, warmup, tmp_path, args.timeout))
    for figure in ("upload_to_embedded_images_per_s", "embedding_images_per_s"):
        metrics[f"ratio_{figure}_2_over_1"] = round(
            metrics[f"p2_{figure}"] / metrics[f"p1_{figure}"], 2
        )
    return BenchResult(
        name="embed_scale" + ("_quick" if args.quick else ""),
        title="Embedding a large upload with 1 and 2 worker processes (images/s)",
        params={
            "images": args.images,
            "source": str(args.data),
            "upload_batch": UPLOAD_BATCH,
            **machine_facts(),
        },
        metrics=metrics,
        notes=[
            machine_note(),
            "pN_: default-queue concurrency N (N worker processes), a fresh platform each; "
            "embedding jobs use one ONNX Runtime thread each (EMBED_JOB_THREADS).",
            "upload_to_embedded: first upload request -> last embedding stored; "
            "embedding: first embedding job started -> last finished (the jobs' own rows).",
            f"On {os.cpu_count()} cores the ratio stays under 2x: the web process storing "
            "the upload, this client and the database share the cores with the workers.",
        ],
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser)
    parser.add_argument("--images", type=int, default=800, help="images in the upload")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per setting")
    args = parser.parse_args(argv)
    if args.quick:
        args.images = 150
    started = time.perf_counter()
    result = run(args)
    result.metrics["bench_wall_s"] = round(time.perf_counter() - started, 1)
    write_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
