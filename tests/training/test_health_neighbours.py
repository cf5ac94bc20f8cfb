"""The nearest labelled images shown beside each flagged image of the fix queue (issue 14,
item 6: why an image was flagged)."""

from __future__ import annotations

import numpy as np
import pytest

from apps import ml
from apps.datasets.models import Image
from apps.training.health import neighbours as nb
from apps.training.health.selectors import health_report_get
from tests.factories import ImageFactory
from tests.training.test_health import _compute, _relabel, _store, _synthetic_project

pytestmark = pytest.mark.django_db


def test_nearest_labelled_skips_itself_unlabelled_rows_and_sorts_by_similarity():
    features = np.asarray(
        [[1, 0], [0.9, 0.1], [0.7, 0.7], [0, 1], [0.99, 0.01], [-1, 0]], dtype=np.float32
    )
    labelled = np.asarray([0, 1, 2, 3, 5])  # row 4 has no label: never a neighbour
    found = ml.nearest_labelled(features=features, labelled=labelled, queries=[0, 4], k=3)
    assert [row for row, _ in found[0]] == [1, 2, 3]
    assert [row for row, _ in found[4]] == [0, 1, 2]
    similarities = [s for _, s in found[0]]
    assert similarities == sorted(similarities, reverse=True)
    assert similarities[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-5)
    assert ml.nearest_labelled(features=features, labelled=labelled[:0], queries=[0], k=5) == {
        0: []
    }


def test_a_flipped_label_shows_neighbours_of_the_suggested_label(user):
    project, by_class, _ = _synthetic_project(user)
    wrong = by_class["a"][0]
    _relabel(wrong, "b")
    _compute(project)
    report = health_report_get(project=project)
    issue = next(i for i in report["label_issues"] if i["image"] == wrong.pk)
    neighbours = issue["neighbours"]
    assert len(neighbours) == nb.NEIGHBOURS_K
    assert wrong.pk not in [n["image"] for n in neighbours]
    # Why it looks wrong: the images most like it are labelled "a", not "b".
    assert [n["label"] for n in neighbours] == ["a"] * nb.NEIGHBOURS_K
    assert all(0.5 < n["similarity"] <= 1 for n in neighbours)

    # Read as they are now: a neighbour relabelled shows its new label, a deleted one goes.
    first, second = (Image.objects.get(pk=n["image"]) for n in neighbours[:2])
    _relabel(first, "c")
    second.delete()
    again = next(
        i for i in health_report_get(project=project)["label_issues"] if i["image"] == wrong.pk
    )
    assert again["neighbours"][0] == {**neighbours[0], "label": "c"}
    assert second.pk not in [n["image"] for n in again["neighbours"]]


def test_a_duplicate_pair_leaves_its_twin_out_and_a_stranger_has_far_neighbours(user):
    project, by_class, centres = _synthetic_project(user)
    original = by_class["b"][2]
    vector = np.frombuffer(bytes(original.embeddings.get().vector), np.float32)
    twin = ImageFactory(project=project, label="b", split="test")
    _store(twin, vector + 0.01, project.backbone)
    stranger = ImageFactory(project=project, label="c", split="train")
    _store(stranger, -centres.sum(axis=0) * 2, project.backbone)
    _compute(project)
    report = health_report_get(project=project)

    pair = next(p for p in report["near_duplicates"] if set(p["images"]) == {original.pk, twin.pk})
    shown = [n["image"] for n in pair["neighbours"]]
    assert len(shown) == nb.NEIGHBOURS_K and not set(shown) & set(pair["images"])
    assert {n["label"] for n in pair["neighbours"]} == {"b"}

    outlier = next(o for o in report["outliers"] if o["image"] == stranger.pk)
    issue_sims = [n["similarity"] for n in pair["neighbours"]]
    assert max(n["similarity"] for n in outlier["neighbours"]) < min(issue_sims)


def test_the_api_answers_neighbours_and_keeps_the_documented_keys(auth_client, user):
    project, by_class, _ = _synthetic_project(user)
    _relabel(by_class["c"][4], "a")
    _compute(project)
    body = auth_client.get(f"/api/v1/projects/{project.pk}/health/").json()
    issue = next(i for i in body["label_issues"] if i["image"] == by_class["c"][4].pk)
    assert {"image", "label", "suggested", "score"} <= set(issue)
    assert set(issue["neighbours"][0]) == {"image", "label", "similarity"}
    assert issue["neighbours"][0]["label"] == "c"


def test_neighbours_of_600_flagged_among_10000_images():
    """The scale a report meets (its time is measured in bench.bench_health, not here)."""
    rng = np.random.default_rng(0)
    n, dim = 10_000, 1280
    features = rng.normal(size=(n, dim)).astype(np.float32)
    rows = [(k, 1, "a", "train") for k in range(n)]
    issues = [{"image": k} for k in range(0, 1200, 2)]
    nb.neighbours_attach(
        rows=rows, features=features, label_issues=issues, outliers=[], near_duplicates=[]
    )
    assert all(len(item["neighbours"]) == nb.NEIGHBOURS_K for item in issues)
    assert all(n["image"] != item["image"] for item in issues for n in item["neighbours"])
