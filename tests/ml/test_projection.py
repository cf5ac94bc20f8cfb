"""The embedding map, clusters and learning curves on plain arrays (no database)."""

from __future__ import annotations

import numpy as np
import pytest

from apps import ml
from apps.ml.projection import candidate_ks


def blobs(classes: int = 3, per_class: int = 40, dim: int = 24, noise: float = 0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3
    y = np.repeat(np.arange(classes), per_class)
    x = centres[y] + rng.normal(scale=noise * 3, size=(len(y), dim))
    return np.maximum(x, 0).astype(np.float32), y


def test_map_coordinates_are_2d_in_unit_square_and_separate_classes():
    x, y = blobs()
    coords = ml.embedding_map(x)
    assert coords.shape == (len(x), 2)
    assert np.abs(coords).max() == pytest.approx(1.0)
    # Points of a class sit closer to their own class mean than to the others'.
    means = np.stack([coords[y == k].mean(axis=0) for k in range(3)])
    nearest = np.linalg.norm(coords[:, None] - means[None], axis=2).argmin(axis=1)
    assert (nearest == y).mean() > 0.9


def test_map_of_tiny_inputs():
    assert ml.embedding_map(np.zeros((0, 8))).shape == (0, 2)
    assert ml.embedding_map(np.ones((1, 8))).tolist() == [[0.0, 0.0]]
    with pytest.raises(ValueError):
        ml.embedding_map(np.ones(8))


def test_clusters_are_pure_and_ordered_largest_first():
    x, y = blobs(per_class=50)
    x = np.concatenate([x, blobs(classes=1, per_class=30, seed=5)[0]])
    found = ml.cluster_embeddings(x)
    assert found.k in candidate_ks(len(x))
    sizes = np.bincount(found.assignment)
    assert list(sizes) == sorted(sizes, reverse=True)
    for cluster in range(found.k):
        members = y[found.assignment[: len(y)] == cluster]
        if len(members):
            assert np.bincount(members).max() / len(members) > 0.9
    for cluster, sample in enumerate(found.samples):
        assert 1 <= len(sample) <= 6
        assert all(found.assignment[row] == cluster for row in sample)


def test_cold_start_order_covers_every_group_before_repeating_one():
    x, y = blobs(classes=3, per_class=40)
    found = ml.cluster_embeddings(x, k=3, sample_size=len(x))
    order = ml.cold_start_order(found.samples, limit=9)
    assert len(order) == 9 and len(set(order)) == 9
    # The first three labels asked for are one image of each class (the blobs are the
    # classes); labelling at random would often ask for two of one class first.
    assert sorted(y[order[:3]].tolist()) == [0, 1, 2]
    # Each is the most typical of its cluster: nearest its cluster's mean in feature space.
    for row in order[:3]:
        members = np.flatnonzero(found.assignment == found.assignment[row])
        assert row == found.samples[found.assignment[row]][0]
        assert row in members
    assert ml.cold_start_order([[5, 6], [7]], limit=10) == [5, 7, 6]
    assert ml.cold_start_order([], limit=3) == []


def test_clusters_with_a_given_k_and_tiny_inputs():
    x, _ = blobs()
    assert ml.cluster_embeddings(x, k=3).k == 3
    assert ml.cluster_embeddings(np.zeros((0, 4))).k == 0
    two = ml.cluster_embeddings(np.eye(2, dtype=np.float32))
    assert two.k == 1 and two.assignment.tolist() == [0, 0]


def test_candidate_ks_lean_large_and_stay_capped():
    assert candidate_ks(0) == []
    assert candidate_ks(3) == [1]
    assert max(candidate_ks(400)) == 14
    assert max(candidate_ks(1_000_000)) == 40
    assert all(k >= 2 for k in candidate_ks(50))


def test_fit_power_law_recovers_a_known_curve():
    n = np.array([10.0, 20, 40, 80, 160])
    law = ml.fit_power_law(n, 0.95 - 0.6 * n**-0.5)
    assert law.a == pytest.approx(0.95, abs=0.01)
    assert law.c == pytest.approx(0.5, abs=0.05)
    assert float(law(1e9)) <= 1.0


def test_fit_power_law_never_promises_more_than_100_percent_or_a_falling_curve():
    n = np.array([10.0, 20, 30, 40])
    assert ml.fit_power_law(n, np.array([0.9, 0.97, 0.99, 1.0])).a <= 1.0
    flat = ml.fit_power_law(n, np.array([0.9, 0.85, 0.8, 0.8]))
    assert flat.b == 0.0


def test_learning_curve_and_advice():
    x, y = blobs(classes=2, per_class=30, dim=16, noise=1.2)
    points = ml.learning_curve(x, y, num_classes=2, folds=3)
    assert [p.images for p in points] == sorted(p.images for p in points)
    assert points[-1].images == 60 and points[-1].class_counts == (30, 30)
    assert all(0 <= p.low <= p.accuracy <= p.high <= 1 for p in points)
    law, advice = ml.learning_advice(points)
    assert {a.label for a in advice} == {0, 1}
    assert all(10 <= a.more_images <= 20 and a.expected_gain_points >= 0 for a in advice)
    assert law.a <= 1.0
