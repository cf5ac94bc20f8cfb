"""The embedding map, clusters, confusion cells, learning curve and slices (issue 14), on
synthetic embeddings stored as the cache would hold them. The predictions and the learning
curve come from the data health report, computed here eagerly as the worker would."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from apps.datasets.models import Image
from apps.training.health import compute
from apps.training.health.services import health_job_request
from apps.training.models import Embedding, HealthJob
from tests.conftest import REPO_ROOT
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db

DIM = 16


def embed(project, images, *, centre_of, seed=0):
    """Store an embedding per image near the centre of ``centre_of(image)``."""
    rng = np.random.default_rng(seed)
    centres = np.eye(DIM, dtype=np.float32) * 4
    rows = []
    for image in images:
        vector = centres[centre_of(image)] + rng.normal(scale=0.3, size=DIM)
        rows.append(
            Embedding(
                image=image,
                backbone=project.backbone,
                vector=np.maximum(vector, 0).astype("<f4").tobytes(),
            )
        )
    Embedding.objects.bulk_create(rows)


def run_report(project, monkeypatch):
    """The health job, run here (images without an embedding stay without one)."""
    monkeypatch.setattr(compute, "embeddings_compute", lambda **kw: 0)
    job = compute.health_job_run(job_id=health_job_request(project=project).pk)
    assert job is not None and job.status == HealthJob.Status.SUCCEEDED, job and job.error
    return job


@pytest.fixture
def data(project, monkeypatch):
    """8 ants and 8 bees (6 train, 2 test each; one bee labelled "ants"), 6 unlabelled
    images of two looks, and one image not embedded yet."""
    images = []
    for label in ("ants", "bees"):
        for i in range(8):
            images.append(
                ImageFactory(project=project, label=label, split="test" if i < 2 else "train")
            )
    wrong = images[-1]
    unlabelled = ImageFactory.create_batch(6, project=project, label=None)
    look = {image.pk: 0 if image.label and image.label.name == "ants" else 1 for image in images}
    look.update({image.pk: 2 + (k % 2) for k, image in enumerate(unlabelled)})
    embed(project, images + unlabelled, centre_of=lambda image: look[image.pk])
    ants = project.labels.get(name="ants")
    Image.objects.filter(pk=wrong.pk).update(label=ants)
    ImageFactory(project=project, label="ants", split="train")  # no embedding
    run_report(project, monkeypatch)
    return {"images": images, "wrong": wrong, "unlabelled": unlabelled}


def url(project, name):
    return f"/api/v1/projects/{project.pk}/{name}/"


@pytest.mark.parametrize("name", ["map", "clusters", "confusion", "learning-curve", "slices"])
def test_only_the_owner_sees_insights(other_client, api_client, project, name):
    assert other_client.get(url(project, name)).status_code == 404
    assert api_client.get(url(project, name)).status_code in (401, 403)


def test_map_places_every_embedded_image(auth_client, project, data):
    answer = auth_client.get(url(project, "map")).json()
    assert answer["status"] == "partial" and answer["missing"] == 1
    points = {p["image"]: p for p in answer["points"]}
    assert len(points) == 22
    assert all(-1 <= p["x"] <= 1 and -1 <= p["y"] <= 1 for p in points.values())
    ant = points[data["images"][0].pk]
    assert ant["label"] == "ants" and ant["split"] == "test" and ant["predicted"] == "ants"
    # No model yet: the unlabelled images come with their clusters.
    assert answer["clusters"]
    assert all("cluster" in points[i.pk] for i in data["unlabelled"])
    assert "cluster" not in ant


def test_clusters_group_unlabelled_images_by_look(auth_client, project, data):
    answer = auth_client.get(url(project, "clusters")).json()
    assert answer["status"] == "ready"
    groups = [set(c["images"]) for c in answer["clusters"]]
    assert sum(len(g) for g in groups) == 6
    looks = [{i.pk for k, i in enumerate(data["unlabelled"]) if k % 2 == j} for j in (0, 1)]
    # No cluster mixes the two looks.
    assert all(any(g <= look for look in looks) for g in groups)
    assert all(set(c["sample"]) <= set(c["images"]) for c in answer["clusters"])


def test_confusion_matrix_and_cells(auth_client, project, data):
    answer = auth_client.get(url(project, "confusion")).json()
    assert answer["status"] == "ready"
    assert answer["labels"] == ["ants", "bees"]
    assert answer["sources"]["test"] == "cross_validation"
    assert np.array(answer["matrices"]["all"]).sum() == 16
    assert np.array(answer["matrices"]["test"]).sum() == 4
    # The bee labelled "ants" is predicted "bees" out of sample.
    assert answer["matrices"]["train"][0][1] == 1
    assert answer["results"] == [] and answer["count"] == 0
    cell = auth_client.get(url(project, "confusion"), {"true": "ants", "predicted": "bees"})
    assert [row["image"] for row in cell.json()["results"]] == [data["wrong"].pk]
    diagonal = auth_client.get(
        url(project, "confusion"),
        {"true": "ants", "predicted": "ants", "split": "test", "page_size": 1},
    ).json()
    assert diagonal["count"] == 2 and len(diagonal["results"]) == 1 and diagonal["next"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"split": "holdout"}, "invalid_split"),
        ({"true": "ants"}, "invalid_cell"),
        ({"true": "wasps", "predicted": "ants"}, "invalid_label"),
    ],
)
def test_confusion_bad_input_is_a_plain_400(auth_client, project, data, params, code):
    response = auth_client.get(url(project, "confusion"), params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_learning_curve_gives_points_and_advice(auth_client, project, data):
    answer = auth_client.get(url(project, "learning-curve")).json()
    assert answer["images"] == 16
    assert len(answer["points"]) == 4
    assert answer["points"][-1]["per_class"] == 8
    assert {a["label"] for a in answer["advice"]} == {"ants", "bees"}
    assert all("images of" in a["sentence"] for a in answer["advice"])


def test_learning_curve_needs_two_labels(auth_client, project):
    ImageFactory.create_batch(2, project=project, label="ants")
    answer = auth_client.get(url(project, "learning-curve")).json()
    assert answer["points"] == [] and answer["advice"] == []
    assert answer["status"] == "none" and answer["images"] == 2


def test_slices_rank_metadata_values_worst_first(auth_client, project, data):
    for image in data["images"]:
        camera = "north" if image.pk == data["wrong"].pk or image.pk % 2 else "south"
        Image.objects.filter(pk=image.pk).update(metadata={"camera": camera})
    keys = auth_client.get(url(project, "slices")).json()
    assert keys["keys"] == ["camera"] and keys["slices"] == []
    answer = auth_client.get(url(project, "slices"), {"key": "camera"}).json()
    slices = answer["slices"]
    assert [s["value"] for s in slices][0] == "north"
    assert slices[0]["accuracy"] < 1.0 and slices[0]["low"] <= slices[0]["accuracy"]
    assert sum(s["images"] for s in slices) == 16
    bad = auth_client.get(url(project, "slices"), {"key": "site"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_key"


def test_before_any_report_the_predictions_are_empty_and_say_why(auth_client, project):
    ImageFactory.create_batch(2, project=project, label="ants")
    ImageFactory.create_batch(2, project=project, label="bees")
    answer = auth_client.get(url(project, "confusion")).json()
    assert answer["status"] == "none" and answer["labels"] == [] and answer["count"] == 0
    health_job_request(project=project)  # queued, not computed yet
    for name in ("confusion", "learning-curve", "slices"):
        answer = auth_client.get(url(project, name)).json()
        assert answer["status"] == "computing", name
    assert auth_client.get(url(project, "learning-curve")).json()["points"] == []


def test_a_relabelled_image_leaves_its_cell_until_the_next_report(auth_client, project, data):
    bees = project.labels.get(name="bees")
    Image.objects.filter(pk=data["wrong"].pk).update(label=bees)
    cell = auth_client.get(url(project, "confusion"), {"true": "ants", "predicted": "bees"})
    assert cell.json()["results"] == []
    assert np.array(cell.json()["matrices"]["all"]).sum() == 15


def test_the_insights_requests_never_import_torch(auth_client, project, data, monkeypatch):
    """The report was computed (by the worker); the web request only reads it. With torch
    made unimportable every insight still answers."""
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" raises ImportError
    for name in ("map", "confusion", "learning-curve", "clusters"):
        assert auth_client.get(url(project, name)).status_code == 200, name
    Image.objects.filter(pk=data["wrong"].pk).update(metadata={"camera": "north"})
    assert auth_client.get(url(project, "slices"), {"key": "camera"}).status_code == 200


def test_the_insights_modules_do_not_import_torch():
    code = (
        "import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'bakehouse.settings.test'; "
        "import django; django.setup(); "
        "import apps.training.insights, apps.training.insights_apis; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
