"""Scale: API read latency on a project with 100,000 image rows.

Django is configured in this process on a fresh SQLite database in a temporary
``BAKEHOUSE_VAR_DIR`` (settings ``bakehouse.settings.test`` for an in-process cache, with the
production SQLite options from the base settings), migrated, and filled with
``bulk_create``: one project with 100,000 images (3 labels + 10 % unlabeled, splits 70 % train,
20 % val, 10 % none) and 20 other small projects of the same user. Each endpoint is then
called through DRF's ``APIClient`` (the whole Django stack, without a socket): the image list's
first page and a deep page, filtered by label, unlabeled and split, the dataset stats, and the
project list. Median of ``--runs`` calls after 2 warm-ups.

    .venv/bin/python -m bench.bench_scale [--quick] [--rows 100000] [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BenchResult, add_common_args, latency_summary, stopwatch, write_result
from bench.platform_run import machine_facts, machine_note

LABELS = ("cat", "dog", "bird")


def _setup_django(var_dir: Path) -> None:
    os.environ["BAKEHOUSE_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bakehouse.settings.test"
    os.environ.pop("DATABASE_URL", None)  # always a throw-away SQLite file under var_dir
    os.environ["MEDIA_ROOT"] = str(var_dir / "media")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _fill(rows: int) -> tuple[Any, Any]:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from apps.datasets.models import Image
    from apps.projects.models import Label, Project

    user = get_user_model().objects.create_user(username="scale", password="scale-pass-4242!")
    for index in range(20):
        Project.objects.create(owner=user, name=f"Other project {index}")
    project = Project.objects.create(owner=user, name="Big project")
    labels = [Label.objects.create(project=project, name=name) for name in LABELS]
    batch = []
    with transaction.atomic():
        for index in range(rows):
            label = None if index % 10 == 9 else labels[index % len(labels)]
            bucket = index % 10
            split = "train" if bucket < 7 else ("val" if bucket < 9 else "")
            batch.append(
                Image(
                    project=project,
                    label=label,
                    split=split,
                    sha256=f"{index:064x}",
                    original=f"projects/{project.id}/originals/{index}.jpg",
                    normalized=f"projects/{project.id}/normalized/{index}.jpg",
                    thumbnail=f"projects/{project.id}/thumbs/{index}.jpg",
                    original_filename=f"img_{index:06d}.jpg",
                    format="JPEG",
                    width=640,
                    height=480,
                    size_bytes=123_456,
                    uploaded_by=user,
                )
            )
            if len(batch) == 5000:
                Image.objects.bulk_create(batch)
                batch = []
        if batch:
            Image.objects.bulk_create(batch)
    return user, project


def run(args: argparse.Namespace) -> BenchResult:
    rows = 10_000 if args.quick else args.rows
    runs = 5 if args.quick else args.runs
    metrics: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        var_dir = Path(tmp) / "var"
        var_dir.mkdir()
        with stopwatch() as setup_time:
            _setup_django(var_dir)
        with stopwatch() as fill_time:
            user, project = _fill(rows)
        metrics["rows"] = rows
        metrics["migrate_s"] = round(setup_time["s"], 2)
        metrics["bulk_create_s"] = round(fill_time["s"], 2)
        metrics["bulk_create_rows_per_s"] = round(rows / fill_time["s"])

        from django.db import connection
        from rest_framework.test import APIClient

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # what a long-lived database has: planner statistics
        client = APIClient()
        client.force_authenticate(user)
        base = f"/api/v1/projects/{project.id}"
        last_page = -(-rows // 50)
        endpoints = {
            "list_first_page": f"{base}/images/",
            "list_deep_page": f"{base}/images/?page={last_page // 2}",
            "list_page_size_500": f"{base}/images/?page_size=500",
            "filter_label": f"{base}/images/?label={LABELS[1]}",
            "filter_unlabeled": f"{base}/images/?unlabeled=true",
            "filter_split_val": f"{base}/images/?split=val",
            "filter_label_and_split": f"{base}/images/?label={LABELS[0]}&split=train",
            "stats": f"{base}/stats/",
            "project_list": "/api/v1/projects/",
        }
        for name, url in endpoints.items():
            response = client.get(url)
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} -> {response.status_code}: {response.content[:300]}")
            samples = []
            for attempt in range(runs + 2):
                started = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - started
                if attempt >= 2:
                    samples.append(elapsed)
            summary = latency_summary(samples)
            metrics[f"{name}_median_ms"] = summary["median_ms"]
            metrics[f"{name}_p95_ms"] = summary["p95_ms"]
            body = response.json()
            if isinstance(body, dict) and "count" in body:
                metrics[f"{name}_count"] = body["count"]
            print(name, summary["median_ms"], "ms", flush=True)
        metrics["sqlite_mb"] = round((var_dir / "bakehouse.sqlite3").stat().st_size / 2**20, 1)

    return BenchResult(
        name="scale" + ("_quick" if args.quick else ""),
        title=f"Scale: API reads on a project with {rows:,} images",
        params={"rows": rows, "runs": runs, "database": "SQLite (WAL)", **machine_facts()},
        metrics=metrics,
        notes=[
            machine_note(),
            "In-process DRF APIClient (authentication forced; no socket, no gunicorn): URL "
            "routing, permissions, selectors, serializers and pagination (50 per page) are the "
            "real code. Median of the runs after 2 warm-ups.",
            "Rows: 3 labels in turn with every 10th image unlabeled; splits 70 % train, 20 % "
            "val, 10 % none. The user owns 21 projects.",
        ],
    )


def main(argv: list[str] | None = None) -> BenchResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser, dataset=False)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(args)
    result.metrics["bench_wall_s"] = round(time.perf_counter() - started, 1)
    write_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
