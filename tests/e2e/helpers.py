"""Small steps end-to-end tests share: make a project, put images in, train, wait.

Each takes an httpx client from ``live_platform.signup()`` and talks to the real API."""

from __future__ import annotations

import mimetypes
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

TERMINAL_JOB_STATES = {"succeeded", "failed", "cancelled"}
UPLOAD_BATCH = 50


def create_project(client: httpx.Client, name: str, labels: Iterable[str] = ()) -> dict:
    response = client.post("/api/v1/projects/", json={"name": name, "labels": list(labels)})
    assert response.status_code == 201, response.text
    return response.json()


def upload_images(
    client: httpx.Client,
    project_id: int,
    paths: Iterable[Path | str],
    label: str | None = None,
    split: str | None = None,
) -> dict[str, list]:
    """Upload files (in batches) with an optional label and split; returns the merged
    per-file report {"created", "duplicates", "rejected", "skipped"}."""
    paths = [Path(p) for p in paths]
    report: dict[str, list] = {"created": [], "duplicates": [], "rejected": [], "skipped": []}
    data = {k: v for k, v in {"label": label, "split": split}.items() if v}
    for start in range(0, len(paths), UPLOAD_BATCH):
        files = [
            (
                "files",
                (
                    path.name,
                    path.read_bytes(),
                    mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                ),
            )
            for path in paths[start : start + UPLOAD_BATCH]
        ]
        response = client.post(f"/api/v1/projects/{project_id}/images/", data=data, files=files)
        assert response.status_code == 201, response.text
        for key, entries in response.json().items():
            report.setdefault(key, []).extend(entries)
    return report


def wait_for(
    client: httpx.Client,
    url: str,
    until: Callable[[dict], bool],
    timeout: float = 60.0,
    interval: float = 0.1,
) -> dict:
    """GET ``url`` until ``until(body)`` holds; returns that body (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while True:
        response = client.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        if until(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not reach the expected state in {timeout} s: {body}")
        time.sleep(interval)


def import_zip(
    client: httpx.Client, project_id: int, zip_path: Path | str, timeout: float = 300.0
) -> dict:
    """Import a zip archive and wait for the import to finish; returns the finished job."""
    zip_path = Path(zip_path)
    with zip_path.open("rb") as handle:
        response = client.post(
            f"/api/v1/projects/{project_id}/imports/",
            files={"file": (zip_path.name, handle, "application/zip")},
        )
    assert response.status_code == 202, response.text
    job = response.json()
    return wait_for(
        client,
        f"/api/v1/imports/{job['id']}/",
        lambda body: body["status"] in ("succeeded", "failed"),
        timeout=timeout,
        interval=0.25,
    )


def start_training(client: httpx.Client, project_id: int, mode: str = "quick") -> dict:
    response = client.post(f"/api/v1/projects/{project_id}/training-jobs/", json={"mode": mode})
    assert response.status_code == 202, response.text
    return response.json()


def wait_for_job(client: httpx.Client, job_id: int, timeout: float = 120.0) -> dict:
    return wait_for(
        client,
        f"/api/v1/training-jobs/{job_id}/",
        lambda body: body["status"] in TERMINAL_JOB_STATES,
        timeout=timeout,
    )


def train(
    client: httpx.Client, project_id: int, mode: str = "quick", timeout: float = 120.0
) -> dict:
    """Start a training job and wait until it ends; returns the finished job."""
    job = start_training(client, project_id, mode)
    return wait_for_job(client, job["id"], timeout=timeout)
