"""Two worker hosts and a web host that share no folder, only PostgreSQL, Redis and S3.

The platform's web process (with beat) runs without workers; two worker "hosts" are
started beside it through ``Platform.add_worker``, each with its own BAKEHOUSE_VAR_DIR and
BAKEHOUSE_ML_CACHE, and a default and a training worker. Images are uploaded through the
web process (to S3), embedded and trained on whichever host takes the job, then trained
again on the other host (the first one's training worker is stopped), deployed, switched
and called: every step may only rely on what the hosts share.

Full stack only (.ci/run's second pass): ``DATABASE_URL=postgres://… REDIS_URL=redis://…
AWS_STORAGE_BUCKET_NAME=… AWS_S3_ENDPOINT_URL=… .venv/bin/pytest tests/e2e/test_two_hosts.py``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import HYMENOPTERA
from tests.e2e.conftest import WorkerHost, full_stack_only, start_live_platform
from tests.e2e.helpers import create_project, train, upload_images, wait_for

pytestmark = [pytest.mark.e2e, full_stack_only]

HOSTS = ("host-a", "host-b")
TASK_DONE = re.compile(r"Task (training\.\w+)\[[^\]]+\] succeeded")


def _photos(split: str, label: str, count: int, skip: int = 0) -> list[Path]:
    files = sorted(p for p in (HYMENOPTERA / split / label).iterdir() if p.suffix == ".jpg")
    return files[skip : skip + count]


def _tasks_done(live, worker: str) -> list[str]:
    return TASK_DONE.findall(live.log(worker))


def _hosts_that_ran(live, hosts, queue: str, task: str, wait: float = 15.0) -> list[str]:
    """The hosts whose ``queue`` worker logged ``task`` as succeeded (waiting until one
    has: the job's row says succeeded a moment before Celery logs the task's end)."""
    deadline = time.monotonic() + wait
    while True:
        ran = [h.name for h in hosts if task in _tasks_done(live, f"worker-{queue}@{h.name}")]
        if ran or time.monotonic() > deadline:
            return ran
        time.sleep(0.2)


def _predict(http: httpx.Client, url: str, key: str, path: Path) -> dict:
    response = http.post(
        url,
        headers={"Authorization": f"Api-Key {key}"},
        files={"image": (path.name, path.read_bytes(), "image/jpeg")},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_upload_train_deploy_and_predict_across_two_worker_hosts(tmp_path):
    hosts = tuple(WorkerHost(name=name, root=tmp_path / name) for name in HOSTS)
    live, stop = start_live_platform(tmp_path / "web" / "var", worker_hosts=hosts)
    try:
        with live.signup() as client:
            _run(live, client, hosts)
    finally:
        stop()
    # Nothing went to a local media folder anywhere: every file is on S3.
    for root in (tmp_path / "web", *(host.root for host in hosts)):
        assert not (root / "var" / "media").exists(), f"files stored under {root}"


def _run(live, client: httpx.Client, hosts: tuple[WorkerHost, ...]) -> None:
    platform = live.platform
    assert not {"worker-default", "worker-training"} & set(platform.processes)
    project = create_project(client, f"Two hosts {time.monotonic_ns()}", ["ants", "bees"])
    for label in ("ants", "bees"):
        for split, count in (("train", 8), ("val", 4)):
            report = upload_images(
                client, project["id"], _photos(split, label, count), label=label, split=split
            )
            assert len(report["created"]) == count, report

    first = train(client, project["id"], "quick", timeout=240)
    assert first["status"] == "succeeded", first
    trained_on = _hosts_that_ran(live, hosts, "training", "training.run_job")
    assert len(trained_on) == 1, trained_on
    # The other host must do the next job: stop this one's training worker.
    platform.processes[f"worker-training@{trained_on[0]}"].stop()
    other = next(h for h in hosts if h.name != trained_on[0])

    for label in ("ants", "bees"):
        upload_images(
            client, project["id"], _photos("train", label, 8, skip=8), label=label, split="train"
        )
    second = train(client, project["id"], "quick", timeout=240)
    assert second["status"] == "succeeded", second
    assert _hosts_that_ran(live, (other,), "training", "training.run_job") == [other.name]
    assert second["metrics"]["counts"]["train"] == 40  # 16 + 16 train and 4 + 4 val: all of them
    # Embeddings were computed by the hosts' default workers (from the images on S3).
    embedded = _hosts_that_ran(live, hosts, "default", "training.embed_images")
    assert embedded, "no embedding job ran on either host"

    # Deploy the first host's version, then switch to the second host's: the web process
    # loads each ONNX graph from S3.
    created = client.post(
        f"/api/v1/projects/{project['id']}/deployments/",
        json={"model_version": first["model_version"], "name": "Two hosts"},
    )
    assert created.status_code == 201, created.text
    slug, url = created.json()["slug"], created.json()["predict_url"]
    key = client.post(f"/api/v1/deployments/{slug}/keys/", json={"name": "e2e"}).json()["key"]
    ant, bee = _photos("val", "ants", 1, skip=20)[0], _photos("val", "bees", 1, skip=20)[0]
    with httpx.Client(timeout=60) as http:
        for version in (first["model_version"], second["model_version"]):
            if version != first["model_version"]:
                switched = client.patch(
                    f"/api/v1/deployments/{slug}/", json={"model_version": version}
                )
                assert switched.status_code == 200, switched.text
            answers = [_predict(http, url, key, path) for path in (ant, bee)]
            assert [a["model_version"] for a in answers] == [version, version]
            assert [a["prediction"]["label"] for a in answers] == ["ants", "bees"]
    # The logged prediction's picture is on S3 too: its signed URL answers.
    listed = wait_for(
        client,
        f"/api/v1/deployments/{slug}/predictions/",
        lambda body: body["count"] >= 4,
        timeout=15,
    )
    logged = listed["results"][0]
    with httpx.Client(timeout=30) as anonymous:
        picture = anonymous.get(logged["image_url"])
    assert picture.status_code == 200 and picture.content[:2] == b"\xff\xd8"
