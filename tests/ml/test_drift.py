"""apps.ml.drift on plain arrays: the projection, the sketches, each test (a shifted sample
alerts, an unshifted one does not), Bonferroni and the combined status."""

from __future__ import annotations

import numpy as np
import pytest

from apps import ml
from apps.ml import drift


def _embeddings(
    rng: np.random.Generator, n: int, *, shift: float = 0.0, weak: float = 0.2
) -> np.ndarray:
    """Points around a fixed direction in 64 dimensions with a few strong directions (as
    image embeddings are), moved by ``shift`` along the fifth axis; ``weak``: the spread
    along the other 56 (larger: more of each image outside the reference's span)."""
    base = np.zeros(64)
    base[0] = 4.0
    spread = np.concatenate([np.full(8, 1.0), np.full(56, weak)])
    x = base + rng.normal(size=(n, 64)) * spread
    x[:, 4] += shift
    return x


@pytest.fixture(scope="module")
def projection() -> drift.DriftProjection:
    return ml.fit_drift_projection(
        _embeddings(np.random.default_rng(0), 600), dims=16, residual_dims=16
    )


def test_the_projection_whitens_the_reference_and_is_deterministic(projection):
    reference = _embeddings(np.random.default_rng(0), 600)
    sketches = projection.project(reference)
    # 16 whitened coordinates and the residual.
    assert sketches.shape == (600, 17) and sketches.dtype == np.float32
    np.testing.assert_allclose(sketches[:, :-1].mean(axis=0), 0.0, atol=1e-4)
    # Whitened, with the spread floored at 5 % of the first direction's.
    assert np.all(sketches[:, :-1].std(axis=0) <= 1.01)
    assert np.all(sketches[:, -1] > 0)
    again = ml.fit_drift_projection(reference, dims=16, residual_dims=16)
    np.testing.assert_array_equal(again.components, projection.components)
    np.testing.assert_array_equal(again.subspace, projection.subspace)
    # Each image's scale does not matter (embeddings are unit-normalised first).
    np.testing.assert_allclose(projection.project(reference * 3.0), sketches, atol=1e-5)


def test_a_projection_needs_a_few_rows_and_keeps_at_most_n_minus_2_dims():
    with pytest.raises(ValueError):
        ml.fit_drift_projection(np.ones((2, 8)))
    small = ml.fit_drift_projection(np.random.default_rng(1).normal(size=(10, 32)), dims=32)
    assert small.dims == 8 + 1


def test_sketches_round_trip_as_float16_bytes(projection):
    sketch = projection.project(_embeddings(np.random.default_rng(2), 3))
    blobs = [ml.sketch_to_bytes(row) for row in sketch]
    assert all(len(blob) == 34 for blob in blobs)  # (16 dims + the residual) x 2 bytes
    back = ml.sketches_from_bytes([*blobs, None, b"short"], 17)
    assert back.shape == (3, 17)
    np.testing.assert_allclose(back, sketch, atol=1e-2)
    assert ml.sketches_from_bytes([], 17).shape == (0, 17)


def test_the_reference_residuals_are_measured_out_of_sample(projection):
    """An image's residual against a subspace fitted with it is too small; by folds, the
    reference's residuals match those of new images from the same source."""
    rng = np.random.default_rng(7)
    reference_embeddings = _embeddings(np.random.default_rng(0), 600)
    in_sample = projection.project(reference_embeddings)[:, -1]
    out_of_sample = ml.drift_reference_sketches(projection, reference_embeddings)
    new = projection.project(_embeddings(rng, 600))[:, -1]
    assert in_sample.mean() < new.mean()
    assert out_of_sample[:, -1].mean() == pytest.approx(new.mean(), rel=0.03)
    np.testing.assert_array_equal(
        out_of_sample[:, :-1], projection.project(reference_embeddings)[:, :-1]
    )
    np.testing.assert_array_equal(
        out_of_sample, ml.drift_reference_sketches(projection, reference_embeddings)
    )


@pytest.mark.parametrize("method", drift.METHODS)
def test_each_test_alerts_on_a_shifted_window_and_not_on_an_unshifted_one(projection, method):
    rng = np.random.default_rng(3)
    reference = ml.drift_reference_sketches(projection, _embeddings(rng, 600))
    same = projection.project(_embeddings(rng, 300))
    # A fifth of the window comes from elsewhere: moved along a strong direction (the mean
    # shift finds it), with more of each image outside the reference's span (the residual).
    mixed = np.concatenate([_embeddings(rng, 240), _embeddings(rng, 60, shift=4.0, weak=0.5)])
    shifted = projection.project(mixed)
    calm = ml.embedding_drift(reference, same, method=method)
    moved = ml.embedding_drift(reference, shifted, method=method)
    assert calm.p_value > 0.01, calm
    assert moved.p_value < 0.005, moved
    assert moved.score > calm.score
    assert moved.n == 300


def test_the_mean_shift_p_value_is_uniform_under_no_change():
    rng = np.random.default_rng(4)
    p_values = [
        drift.mean_shift_test(rng.normal(size=(500, 8)), rng.normal(size=(200, 8))).p_value
        for _ in range(300)
    ]
    # About 5 % under 0.05, as a p-value should be.
    assert 0.01 <= np.mean(np.asarray(p_values) < 0.05) <= 0.10


def test_ks_multiplies_the_smallest_p_value_by_the_number_of_components():
    rng = np.random.default_rng(5)
    reference, window = rng.normal(size=(400, 10)), rng.normal(size=(300, 10))
    window[:, 3] += 0.35
    result = drift.ks_bonferroni_test(reference, window)
    from scipy import stats

    single = stats.ks_2samp(reference[:, 3], window[:, 3], method="asymp").pvalue
    assert result.p_value == pytest.approx(min(1.0, 10 * single), rel=0.2)
    alone = drift.ks_bonferroni_test(reference[:, 3:4], window[:, 3:4])
    assert result.p_value > alone.p_value


def test_mmd_is_reproducible_and_its_smallest_p_value_is_one_over_permutations_plus_one():
    rng = np.random.default_rng(6)
    reference, window = rng.normal(size=(200, 4)), rng.normal(size=(100, 4)) + 2.0
    first = drift.mmd_test(reference, window, permutations=99)
    assert first == drift.mmd_test(reference, window, permutations=99)
    assert first.p_value == pytest.approx(0.01)


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="combined"):
        ml.embedding_drift(np.zeros((5, 2)), np.zeros((5, 2)), method="magic")


def test_confidence_drift_against_a_baseline():
    rng = np.random.default_rng(7)
    baseline = rng.beta(20, 1, 400)
    assert ml.confidence_drift(baseline, rng.beta(20, 1, 400)).p_value > 0.01
    assert ml.confidence_drift(baseline, rng.beta(4, 1, 400)).p_value < 1e-6
    assert ml.confidence_drift(baseline, np.array([0.5])).n == 0


def test_label_mix_drift_is_a_chi_square_against_the_training_mix():
    expected = {"ants": 120.0, "bees": 120.0}
    assert ml.label_mix_drift({"ants": 205, "bees": 195}, expected).p_value > 0.5
    moved = ml.label_mix_drift({"ants": 320, "bees": 80}, expected)
    assert moved.p_value < 1e-10 and moved.n == 400
    # A label never seen in training still gives a finite statistic.
    unseen = ml.label_mix_drift({"ants": 10, "wasps": 10}, {"ants": 5.0, "wasps": 0.0})
    assert np.isfinite(unseen.score) and unseen.p_value < 0.01
    assert ml.label_mix_drift({}, expected).n == 0


def test_the_embedding_test_decides_and_the_others_only_warn():
    calm = ml.DriftTest("mean_shift", 0.5, 0.4, 400)
    alarming = ml.DriftTest("mean_shift", 9.0, 0.0001, 400)
    worrying = ml.DriftTest("mean_shift", 2.0, 0.02, 400)
    mix = ml.DriftTest("label_mix", 40.0, 1e-9, 400)
    skipped = ml.DriftTest("confidence", 0.0, 1.0, 0)
    limits = {"alert_p": 0.005, "warning_p": 0.05}
    assert ml.drift_combine(calm, [], **limits).status == "ok"
    assert ml.drift_combine(alarming, [], **limits).status == "alert"
    assert ml.drift_combine(worrying, [], **limits).status == "warning"
    verdict = ml.drift_combine(calm, [mix, skipped], **limits)
    assert verdict.status == "warning" and verdict.p_value == 0.4
    assert [t.name for t in verdict.tests] == ["mean_shift", "label_mix"]
    # Bonferroni over the others: 0.004 is not under 0.005 / 2.
    assert (
        ml.drift_combine(calm, [ml.DriftTest("label_mix", 1, 0.004, 9), mix], **limits).status
        == "warning"
    )
    assert (
        ml.drift_combine(calm, [ml.DriftTest("label_mix", 1, 0.004, 9), calm], **limits).status
        == "ok"
    )
