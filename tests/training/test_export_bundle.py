"""INT8 compression at the end of training (apps.training.compression) and the export bundle
(GET /api/v1/models/{id}/export/): unzipped, its predict.py answers as the platform does."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps import ml
from apps.training.compression import compress_int8
from apps.training.models import ModelVersion
from tests.training.conftest import add_real_images

pytestmark = pytest.mark.django_db

BACKBONE = "efficientnet_lite0"
LABELS = ["ants", "bees"]


@pytest.fixture(scope="module")
def fp32_graph() -> bytes:
    rng = np.random.default_rng(3)
    head = {"weight": rng.normal(0, 0.05, (2, 1280)).astype(np.float32), "bias": np.zeros(2)}
    return ml.compose_classifier_onnx(BACKBONE, head)


@pytest.fixture
def images(project, hymenoptera):
    return add_real_images(project, hymenoptera, split_counts={"train": 4, "test": 3})


def _part(images) -> SimpleNamespace:
    pairs = {split: [] for split in ("train", "test")}
    for image in images:
        pairs[image.split].append((image.pk, LABELS.index(image.label.name)))
    return SimpleNamespace(train=pairs["train"], held_out=pairs["test"])


@pytest.fixture(scope="module")
def compressions() -> dict[str, object]:
    """The compression of the first test that asks, reused by the others (the same photos
    each time; quantizing takes several seconds)."""
    return {}


@pytest.fixture
def compressed_version(project, images, fp32_graph, compressions):
    """A version as a quick training job leaves it: fp32 graph, int8 copy, metrics."""
    if "done" not in compressions:
        compressions["done"] = compress_int8(
            onnx_bytes=fp32_graph, backbone=BACKBONE, labels=LABELS, part=_part(images)
        )
    compression = compressions["done"]
    ((field, filename, int8),) = compression.files
    folder = f"projects/{project.pk}/models/1"
    return ModelVersion.objects.create(
        project=project,
        number=1,
        backbone=BACKBONE,
        mode="quick",
        labels=LABELS,
        snapshot=[{"id": i.pk, "label": i.label.name, "split": i.split} for i in images],
        metrics={"accuracy": 0.5, "int8": compression.metrics},
        onnx_file=default_storage.save(f"{folder}/model.onnx", ContentFile(fp32_graph)),
        head_file=default_storage.save(f"{folder}/head.pt", ContentFile(b"head")),
        **{field: default_storage.save(f"{folder}/{filename}", ContentFile(int8))},
    )


def test_compression_quantizes_and_measures_both_graphs_on_the_held_out_images(
    compressed_version, fp32_graph
):
    int8 = compressed_version.metrics["int8"]
    assert "error" not in int8
    assert int8["evaluated_images"] == 6  # the 3 + 3 test images
    assert int8["calibration_images"] == 8  # the 4 + 4 training images
    assert int8["format"] == "QOperator"
    assert int8["evaluated_on"] == "held_out"
    assert 0.0 <= int8["agreement"] <= 1.0
    assert int8["size_bytes"] == compressed_version.int8_onnx_file.size
    assert int8["size_bytes"] < 0.4 * int8["fp32"]["size_bytes"]
    assert int8["fp32"]["size_bytes"] == len(fp32_graph)
    for figures in (int8, int8["fp32"]):
        assert 0.0 <= figures["accuracy"] <= 1.0
        assert figures["latency_ms"] > 0 and figures["throughput_per_s"] > 0


def test_without_test_images_both_graphs_are_compared_on_the_training_images(
    project, images, fp32_graph
):
    part = _part(images)
    part.held_out = []
    metrics = compress_int8(
        onnx_bytes=fp32_graph, backbone=BACKBONE, labels=LABELS, part=part
    ).metrics
    assert metrics["evaluated_on"] == "train"
    assert metrics["evaluated_images"] == 8
    assert metrics["fp32"]["accuracy"] is not None and metrics["agreement"] is not None


def test_a_failed_compression_ships_no_file_and_says_why(project, images):
    compression = compress_int8(
        onnx_bytes=b"not an onnx graph", backbone=BACKBONE, labels=LABELS, part=_part(images)
    )
    assert compression.files == []
    assert compression.metrics["error"].startswith("INT8 compression failed")


def _bundle(auth_client, version, tmp_path):
    response = auth_client.get(f"/api/v1/models/{version.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        archive.extractall(tmp_path)
        return set(archive.namelist())


def _run_predict(folder, *args: str) -> subprocess.CompletedProcess:
    # -I: isolated from the repository's paths and PYTHON* variables, as on a user's machine.
    return subprocess.run(
        [sys.executable, "-I", str(folder / "predict.py"), *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_bundles_predict_script_answers_as_the_platform(
    auth_client, compressed_version, tmp_path
):
    names = _bundle(auth_client, compressed_version, tmp_path)
    assert {"model.onnx", "model.int8.onnx", "labels.json", "preprocessing.json"} <= names
    assert {"predict.py", "parity.json"} <= names
    parity = json.loads((tmp_path / "parity.json").read_text())
    rows = parity["images"]
    # Held-out (test) images only, both labels represented.
    test_ids = {row["id"] for row in compressed_version.snapshot if row["split"] == "test"}
    assert len(rows) == 4 and {row["label"] for row in rows} == set(LABELS)
    assert all(int(row["file"].rsplit("-", 1)[1].split(".")[0]) in test_ids for row in rows)
    assert json.loads((tmp_path / "labels.json").read_text()) == LABELS
    assert json.loads((tmp_path / "preprocessing.json").read_text()) == ml.preprocessing_spec(
        BACKBONE
    )

    files = [row["file"] for row in rows]
    for precision, flag in (("fp32", []), ("int8", ["--int8"])):
        done = _run_predict(tmp_path, "--json", *flag, *files)
        assert done.returncode == 0, done.stderr
        answers = json.loads(done.stdout)
        got = np.asarray([[a["probabilities"][label] for label in LABELS] for a in answers])
        expected = np.asarray([row[precision] for row in rows])
        np.testing.assert_allclose(got, expected, atol=1e-4)
        assert [a["label"] for a in answers] == [LABELS[int(np.argmax(e))] for e in expected]

    check = _run_predict(tmp_path, "--check", "--int8")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("OK: 4 images")


def test_the_check_fails_when_the_model_answers_differently(
    auth_client, compressed_version, tmp_path
):
    _bundle(auth_client, compressed_version, tmp_path)
    parity = json.loads((tmp_path / "parity.json").read_text())
    parity["images"][0]["fp32"] = [0.5, 0.5]
    (tmp_path / "parity.json").write_text(json.dumps(parity))
    check = _run_predict(tmp_path, "--check")
    assert check.returncode == 1
    assert check.stdout.startswith("DIFFERENT")


def test_a_bundle_made_before_the_int8_copy_says_why_it_has_none(
    auth_client, compressed_version, tmp_path
):
    compressed_version.int8_onnx_file = ""
    compressed_version.save(update_fields=["int8_onnx_file"])
    names = _bundle(auth_client, compressed_version, tmp_path)
    assert "model.onnx" in names and "model.int8.onnx" not in names
    done = _run_predict(tmp_path, "--int8", "--check")
    assert done.returncode == 2
    assert "download the bundle again from the Model page" in done.stderr, done.stderr
    assert _run_predict(tmp_path, "--check").returncode == 0


def test_the_int8_file_downloads_and_is_linked(auth_client, compressed_version):
    detail = auth_client.get(f"/api/v1/models/{compressed_version.pk}/").json()
    assert detail["downloads"]["int8"].endswith("/download/?file=int8")
    assert detail["downloads"]["bundle"].endswith(f"/models/{compressed_version.pk}/export/")
    assert detail["metrics"]["int8"]["fp32"]["size_bytes"] > 0
    response = auth_client.get(f"/api/v1/models/{compressed_version.pk}/download/?file=int8")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == compressed_version.int8_onnx_file.read()


def test_someone_elses_bundle_is_not_found(other_user, model_version):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(other_user)
    assert client.get(f"/api/v1/models/{model_version.pk}/export/").status_code == 404


def _train(project, django_capture_on_commit_callbacks):
    from apps.training.services import training_job_create

    with django_capture_on_commit_callbacks(execute=True):
        job = training_job_create(project=project, mode="quick")
    job.refresh_from_db()
    assert job.status == "succeeded", (job.error, job.log)
    return job.model_version


def test_a_training_job_ships_an_int8_copy(project, images, django_capture_on_commit_callbacks):
    version = _train(project, django_capture_on_commit_callbacks)
    assert version.int8_onnx_file.name.endswith(".onnx")
    int8 = version.metrics["int8"]
    assert int8["evaluated_on"] == "held_out" and int8["evaluated_images"] == 6
    assert int8["size_bytes"] == version.int8_onnx_file.size
    # The fp32 graph's accuracy through ONNX Runtime is the version's own (same test images).
    assert int8["fp32"]["accuracy"] == pytest.approx(version.metrics["accuracy"], abs=1e-4)


def test_a_failed_quantization_still_ships_the_fp32_model(
    project, images, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(onnx_bytes, batches):
        raise RuntimeError("no kernel for this operator")

    monkeypatch.setattr(ml.quantize, "quantize_classifier", broken)
    monkeypatch.setattr(ml, "quantize_classifier", broken)
    version = _train(project, django_capture_on_commit_callbacks)
    assert version.onnx_file.name and not version.int8_onnx_file.name
    assert version.metrics["int8"] == {
        "error": "INT8 compression failed: no kernel for this operator"
    }
