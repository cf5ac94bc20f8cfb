"""Training through the real platform: web server, broker, a real Celery training worker.

Run: ``.venv/bin/pytest tests/e2e/test_training.py -m e2e -q`` (the hymenoptera figures
test is also marked ``slow``: add ``-s`` to see its numbers, or leave it out with
``-m "e2e and not slow"``)."""

from __future__ import annotations

import io
import os
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from apps.ml import build_classifier, load_state, preprocess_batch
from tests.e2e.helpers import (
    create_project,
    import_zip,
    start_training,
    train,
    upload_images,
    wait_for,
    wait_for_job,
)

pytestmark = pytest.mark.e2e


def _photos(hymenoptera: Path, split: str, label: str, count: int, skip: int = 0) -> list[Path]:
    files = sorted(p for p in (hymenoptera / split / label).iterdir() if p.suffix == ".jpg")
    return files[skip : skip + count]


def _project_with_images(client, hymenoptera: Path, *, train_n: int, val_n: int) -> dict:
    project = create_project(client, f"Ants or bees {time.monotonic_ns()}", ["ants", "bees"])
    for label in ("ants", "bees"):
        for split, count in (("train", train_n), ("val", val_n)):
            report = upload_images(
                client,
                project["id"],
                _photos(hymenoptera, split, label, count),
                label=label,
                split=split,
            )
            assert len(report["created"]) == count, report
    return project


@pytest.fixture(scope="module")
def client(live_platform):
    with live_platform.signup() as client:
        yield client


@pytest.fixture(scope="module")
def small_project(client, hymenoptera_path):
    """12 ants + 12 bees from train/, 6 + 6 from val/, uploaded with their split."""
    return _project_with_images(client, hymenoptera_path, train_n=12, val_n=6)


@pytest.fixture(scope="module")
def tiny_project(client, hymenoptera_path):
    """3 + 3 training and 2 + 2 validation images: fine-tuning it takes seconds."""
    return _project_with_images(client, hymenoptera_path, train_n=3, val_n=2)


@pytest.fixture(scope="module")
def hymenoptera_path() -> Path:
    from tests.conftest import HYMENOPTERA

    return HYMENOPTERA


def test_quick_training_end_to_end_and_the_onnx_matches_torch(
    client, small_project, hymenoptera_path
):
    job = train(client, small_project["id"], "quick", timeout=120)
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0 and job["attempts"] == 1
    metrics = job["metrics"]
    # Quick mode trains on train + val (no test images here) and scores by cross-validation.
    assert metrics["evaluated_on"] == "cross-validation" and metrics["count"] == 36
    assert metrics["counts"]["train"] == 36 and metrics["regularisation"]["l2"] > 0
    assert metrics["accuracy"] >= 0.75
    assert [h["step"] for h in metrics["history"]] == sorted(h["step"] for h in metrics["history"])

    version = client.get(f"/api/v1/models/{job['model_version']}/").json()
    assert version["labels"] == ["ants", "bees"] and version["number"] == 1
    assert len(version["snapshot"]) == 36
    listing = client.get(f"/api/v1/projects/{small_project['id']}/models/").json()
    assert [v["id"] for v in listing["results"]] == [version["id"]]

    head = client.get(f"/api/v1/models/{version['id']}/download/?file=head")
    onnx_file = client.get(f"/api/v1/models/{version['id']}/download/?file=onnx")
    assert head.status_code == 200 and onnx_file.status_code == 200
    model = build_classifier(
        version["backbone"], 2, head_state=load_state(io.BytesIO(head.content))
    )
    session = ort.InferenceSession(onnx_file.content, providers=["CPUExecutionProvider"])
    # Real images the model has not seen, plus some it was trained on.
    paths = _photos(hymenoptera_path, "val", "ants", 4, skip=10) + _photos(
        hymenoptera_path, "train", "bees", 4
    )
    batch = preprocess_batch([Image.open(p).convert("RGB") for p in paths], version["backbone"])
    with torch.inference_mode():
        expected = model(torch.from_numpy(batch)).numpy()
    got = session.run(None, {"input": batch})[0]
    assert got.shape == (8, 2)
    assert np.max(np.abs(got - expected)) < 1e-4


def test_bad_requests(client, live_platform, small_project):
    pid = small_project["id"]
    url = f"/api/v1/projects/{pid}/training-jobs/"
    unknown = client.post(url, json={"mode": "overnight"})
    assert unknown.status_code == 400 and '"overnight"' in unknown.json()["error"]["message"]

    empty = create_project(client, "Nothing labeled yet", ["cats", "dogs"])
    refused = client.post(f"/api/v1/projects/{empty['id']}/training-jobs/", json={})
    assert refused.status_code == 400
    assert '"cats" has 0 images' in refused.json()["error"]["message"]

    first = start_training(client, pid, "quick")
    second = client.post(url, json={"mode": "quick"})
    assert second.status_code == 409
    done = wait_for_job(client, first["id"])
    assert done["status"] == "succeeded"
    again = client.post(f"/api/v1/training-jobs/{first['id']}/cancel/")
    assert again.status_code == 400

    bad_file = client.get(f"/api/v1/models/{done['model_version']}/download/?file=weights")
    assert bad_file.status_code == 400

    with live_platform.signup() as stranger:
        assert stranger.get(f"/api/v1/training-jobs/{first['id']}/").status_code == 404
        assert stranger.post(url, json={}).status_code == 404
        assert stranger.get(f"/api/v1/models/{done['model_version']}/").status_code == 404
        download = f"/api/v1/models/{done['model_version']}/download/?file=onnx"
        assert stranger.get(download).status_code == 404


def test_cancel_a_running_job(client, tiny_project):
    job = start_training(client, tiny_project["id"], "finetune")
    url = f"/api/v1/training-jobs/{job['id']}/"
    wait_for(client, url, lambda body: body["status"] != "queued", timeout=60)
    response = client.post(f"/api/v1/training-jobs/{job['id']}/cancel/")
    assert response.status_code == 202
    assert response.json()["status"] in ("running", "cancelled")
    ended = wait_for_job(client, job["id"], timeout=60)
    assert ended["status"] == "cancelled", ended
    assert ended["model_version"] is None


def test_a_killed_worker_never_leaves_a_job_running(client, live_platform, tiny_project):
    platform = live_platform.platform
    job = start_training(client, tiny_project["id"], "finetune")
    url = f"/api/v1/training-jobs/{job['id']}/"
    running = wait_for(
        client,
        url,
        lambda body: body["status"] == "running" and body["stage"] == "training",
        timeout=120,
    )
    assert running["attempts"] == 1
    worker = platform.processes["worker-training"]
    try:
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool process
        worker.popen.wait(timeout=10)
        # No heartbeat any more: the reaper (beat, every 2 s; stale after 8 s) takes the
        # job back to the queue (attempts left) or fails it.
        reaped = wait_for(client, url, lambda body: body["status"] != "running", timeout=60)
        assert reaped["status"] in ("queued", "failed"), reaped
    finally:
        platform.restart("worker-training")
        platform.workers_ready()
    ended = wait_for_job(client, job["id"], timeout=240)
    assert ended["status"] in ("succeeded", "failed"), ended
    if ended["status"] == "succeeded":
        assert ended["attempts"] == 2 and ended["model_version"] is not None
    else:
        assert "stopped unexpectedly" in ended["error"]


def _hymenoptera_zip(hymenoptera: Path, folder: Path) -> Path:
    path = folder / "hymenoptera.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for split in ("train", "val"):
            for label in ("ants", "bees"):
                for photo in sorted((hymenoptera / split / label).iterdir()):
                    # val/ becomes the test split: quick mode trains on train/ alone and is
                    # measured on the 153 images the plain linear probe is measured on.
                    role = "test" if split == "val" else "train"
                    archive.write(photo, f"hymenoptera/{role}/{label}/{photo.name}")
    return path


def _click_to_ready(client, project_id: int) -> tuple[dict, float]:
    started = time.monotonic()
    job = train(client, project_id, "quick", timeout=300)
    return job, time.monotonic() - started


@pytest.mark.slow
def test_quick_mode_figures_on_hymenoptera(tmp_path, hymenoptera_path):
    """Hymenoptera imported as a zip (train/ and val/ folders), quick mode trained through
    the API on a platform of its own with embedding-on-ingest off, so the first job computes
    every embedding (cold) and the second finds them all cached."""
    from tests.e2e.conftest import start_live_platform

    live, stop = start_live_platform(
        tmp_path / "var", extra_env={"BAKEHOUSE_EMBED_ON_INGEST": "false"}
    )
    try:
        with live.signup() as client:
            project = create_project(client, "Hymenoptera", ["ants", "bees"])
            imported = import_zip(
                client, project["id"], _hymenoptera_zip(hymenoptera_path, tmp_path)
            )
            assert imported["status"] == "succeeded", imported
            cold, cold_seconds = _click_to_ready(client, project["id"])
            warm, warm_seconds = _click_to_ready(client, project["id"])
    finally:
        stop()
    for job in (cold, warm):
        assert job["status"] == "succeeded", job
        assert job["metrics"]["evaluated_on"] == "test"
        assert job["metrics"]["count"] == 153 and job["metrics"]["counts"]["train"] == 245
    print(
        f"\nquick mode on hymenoptera (train/ -> val/): accuracy {warm['metrics']['accuracy']:.4f}"
        f" macro F1 {warm['metrics']['macro_f1']:.4f} ECE {warm['metrics']['ece']:.4f}\n"
        f"  cold (every embedding computed in the job): click->ready {cold_seconds:.2f} s,"
        f" job timings {cold['metrics']['timings']}\n"
        f"  cached embeddings: click->ready {warm_seconds:.2f} s,"
        f" job timings {warm['metrics']['timings']}"
    )
    assert warm["metrics"]["accuracy"] == cold["metrics"]["accuracy"]
    assert warm["metrics"]["accuracy"] >= 0.94
    # The < 5 s (cached) and < 15 s (cold) goals are measured by bench.bench_training, not
    # asserted here: a shared 2-core machine makes timed assertions flaky.
