"""Drift on served predictions, without labels: plain numpy and scipy.

A model version's training embeddings (its out-of-distribution reference) fit a small
projection (``fit_drift_projection``: PCA to a few dozen dimensions, whitened, so that
the training images have mean 0 and unit variance along every kept direction). Each
prediction keeps the projection of its embedding, its *sketch* (two small matrix products
on the features the served graph already returned; 66 bytes as float16): 32 whitened
coordinates and the *residual*, the length of the embedding's part outside the top 48
principal directions of the training images. A window of recent sketches is then
compared with the training images' own sketches (``drift_reference_sketches``: their
residuals measured out of sample, by folds):

- ``mean_shift_test``: the squared distance between the two means in the whitened space,
  scaled by ``n m / (n + m)`` (Hotelling's statistic with the reference covariance; a
  chi-square with ``dims`` degrees of freedom when nothing changed): MMD with a linear
  kernel, analytic p-value;
- ``residual_test``: do the window's residuals run larger than the reference's (Welch's
  one-sided t-test)? A greyscale, noisy or dark image moves little along the directions
  the training photos vary in, and much out of their span;
- ``mmd_test`` (Gaussian kernel, permutation p-value) and ``ks_bonferroni_test`` (KS per
  component, Bonferroni), measured for comparison.

``bench/bench_drift.py`` measures which alerts soonest at a 5 % false-alarm rate per
stream; ``embedding_drift`` runs the one chosen there (``DEFAULT_METHOD``: "combined", the
residual and the mean-shift tests under one weighted Bonferroni threshold. The MMD and the
KS tests also flag the small, real difference between a few hundred training images and
new photos of the same subjects, far above 5 % false alarms). Besides the embeddings:
``confidence_drift`` (KS on the top confidence against a baseline window) and
``label_mix_drift`` (chi-square of the predicted labels against the training mix).
``drift_combine`` turns them into one status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, stats

DRIFT_DIMS = 32
# The principal subspace the residual is measured against (the sketch's last value: how
# far an embedding lies outside what the training images span).
RESIDUAL_DIMS = 48
# Folds for the reference's out-of-sample residuals (an image's own residual, measured
# against a subspace fitted with it, is too small to compare new images with).
RESIDUAL_FOLDS = 5
# The embedding test the platform runs (see bench/bench_drift.py for the comparison).
DEFAULT_METHOD = "combined"
METHODS = ("mmd", "mean_shift", "ks", "residual", "combined")
# The combined test's shares of the false-alarm budget (a weighted Bonferroni): most to the
# residual, which finds the shifts the mean of the top directions misses (greyscale,
# noise, darkness), some to the mean shift, which finds a drift inside the training span.
COMBINED_WEIGHTS = {"residual": 0.8, "mean_shift": 0.2}
# Permutations for the MMD p-value: the smallest p-value it can give is 1 / (P + 1).
MMD_PERMUTATIONS = 500
# Reference rows used by the tests (a fixed sample when the reference is larger).
REFERENCE_MAX = 1000
# Reference rows the projection is fitted on (a fixed sample when there are more).
FIT_MAX = 800


def _rows(total: int, limit: int) -> np.ndarray:
    """A fixed random sample of ``limit`` of ``total`` row indices, in order."""
    return np.sort(np.random.default_rng(0).choice(total, limit, replace=False))


@dataclass(frozen=True, slots=True)
class DriftProjection:
    """Unit-normalise, centre on the training mean, project on the top principal
    directions, divide by their spread: ``(unit(x) - mean) @ components.T / scale``; then
    one more value, the *residual*: the length of what lies outside the top
    ``RESIDUAL_DIMS`` principal directions (``subspace``)."""

    mean: np.ndarray  # [D]
    components: np.ndarray  # [k, D]
    scale: np.ndarray  # [k]
    weights: np.ndarray  # [D, k]: components.T / scale, what ``project`` multiplies by
    subspace: np.ndarray  # [r, D]: orthonormal rows

    @property
    def dims(self) -> int:
        """Values per sketch: the ``k`` whitened coordinates and the residual."""
        return int(self.components.shape[0]) + 1

    def project(self, features: np.ndarray) -> np.ndarray:
        """Embeddings [N, D] (as the served graph returns them) -> sketches [N, k + 1]
        float32."""
        x = np.asarray(features, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        x = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
        centred = x - self.mean
        coordinates = centred @ self.weights
        return np.concatenate(
            [coordinates, _residual(centred, self.subspace)[:, None]], axis=1
        ).astype(np.float32, copy=False)


def _residual(centred: np.ndarray, subspace: np.ndarray) -> np.ndarray:
    """Length of each row's part outside the span of ``subspace``'s orthonormal rows."""
    inside = (centred @ subspace.T) @ subspace
    return np.linalg.norm(centred - inside, axis=1)


def _principal(centred: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` principal directions [k, D] (unit rows, sign fixed so that the largest
    loading is positive) and their variances [k], from the Gram matrix of at most
    ``FIT_MAX`` rows (a fixed sample): a full SVD of 2,000 x 1,280 takes seconds of a loaded
    model's start."""
    fit = centred if len(centred) <= FIT_MAX else centred[_rows(len(centred), FIT_MAX)]
    gram = fit @ fit.T
    size = gram.shape[0]
    k = max(1, min(k, size - 2))
    values, left = linalg.eigh(gram, subset_by_index=[size - k, size - 1])
    values = np.maximum(values, 1e-12)
    vectors = (fit.T @ left) / np.sqrt(values)
    values = values / (len(fit) - 1)
    order = np.argsort(values)[::-1]
    variance, components = np.maximum(values[order], 0.0), vectors[:, order].T
    signs = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
    return components * signs[:, None], variance


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def fit_drift_projection(
    reference: np.ndarray, *, dims: int = DRIFT_DIMS, residual_dims: int = RESIDUAL_DIMS
) -> DriftProjection:
    """PCA of the unit-normalised ``reference`` [N, D] to ``dims`` whitened directions
    (fewer when there are fewer images or dimensions), and the ``residual_dims`` subspace
    the residual is measured against. Deterministic: an eigendecomposition, each
    direction's sign fixed so that its largest loading is positive."""
    x = np.asarray(reference, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError("A drift projection needs at least 3 reference embeddings.")
    x = _unit_rows(x)
    mean = x.mean(axis=0)
    centred = x - mean
    k = max(1, min(dims, len(x) - 2, x.shape[1]))
    directions, variances = _principal(centred, max(k, min(residual_dims, x.shape[1])))
    k = min(k, len(directions))
    components, variance = directions[:k], variances[:k]
    # A floor on the spread: the trailing directions of a small sample under-estimate the
    # variance new images show along them, which would inflate every statistic.
    scale = np.sqrt(np.maximum(variance, max(0.05 * variance[0], 1e-12)))
    return DriftProjection(
        mean=mean.astype(np.float32),
        components=components.astype(np.float32),
        scale=scale.astype(np.float32),
        weights=(components.T / scale).astype(np.float32),
        subspace=directions[: max(1, min(residual_dims, len(directions)))].astype(np.float32),
    )


def drift_reference_sketches(projection: DriftProjection, reference: np.ndarray) -> np.ndarray:
    """The reference images' own sketches, to test windows against: their coordinates as
    ``project`` gives them, and their residuals *out of sample* (each fold's images against
    a subspace fitted on the other folds, as a new image is against the whole reference).
    Deterministic (fixed folds)."""
    sketches = projection.project(reference)
    x = _unit_rows(reference)
    n = len(x)
    if n < 2 * RESIDUAL_FOLDS:
        return sketches  # too few to hold any out: the in-sample residual, conservative
    order = np.random.default_rng(0).permutation(n)
    rank = len(projection.subspace)
    for fold in range(RESIDUAL_FOLDS):
        held = order[fold::RESIDUAL_FOLDS]
        kept = np.setdiff1d(order, held)
        mean = x[kept].mean(axis=0)
        subspace, _ = _principal(x[kept] - mean, rank)
        sketches[held, -1] = _residual(x[held] - mean, subspace)
    return sketches


def sketch_to_bytes(sketch: np.ndarray) -> bytes:
    """One sketch [k] -> float16 bytes (what a prediction log row keeps)."""
    return np.asarray(sketch, dtype=np.float16).tobytes()


def sketches_from_bytes(blobs: Sequence[bytes | memoryview | None], dims: int) -> np.ndarray:
    """Stored sketches -> [N, dims] float32, skipping empty ones and those of another size."""
    width = dims * 2
    rows = [bytes(blob) for blob in blobs if blob is not None and len(blob) == width]
    if not rows:
        return np.zeros((0, dims), dtype=np.float32)
    return np.frombuffer(b"".join(rows), dtype=np.float16).reshape(-1, dims).astype(np.float32)


@dataclass(frozen=True, slots=True)
class DriftTest:
    """One test's outcome: ``score`` (the statistic; larger: more different) and
    ``p_value`` (the chance of a difference this large with no change at all); ``n``: the
    window's size, 0 when the test could not run (too few rows)."""

    name: str
    score: float
    p_value: float
    n: int


def _sample(reference: np.ndarray, limit: int = REFERENCE_MAX) -> np.ndarray:
    if len(reference) <= limit:
        return reference
    return reference[_rows(len(reference), limit)]


def mean_shift_test(reference: np.ndarray, window: np.ndarray) -> DriftTest:
    """Hotelling's statistic with the (whitened) reference covariance: chi-square with
    ``dims`` degrees of freedom when the window comes from the reference's distribution."""
    ref, win = np.asarray(reference, np.float64), np.asarray(window, np.float64)
    n, m = len(win), len(ref)
    if n < 2 or m < 2:
        return DriftTest("mean_shift", 0.0, 1.0, 0)
    diff = win.mean(axis=0) - ref.mean(axis=0)
    spread = ref.std(axis=0, ddof=1)
    spread = np.where(spread > 1e-9, spread, 1.0)
    statistic = float(((diff / spread) ** 2).sum() * n * m / (n + m))
    dof = ref.shape[1]
    return DriftTest("mean_shift", statistic / dof, float(stats.chi2.sf(statistic, dof)), n)


def ks_bonferroni_test(reference: np.ndarray, window: np.ndarray) -> DriftTest:
    """Two-sample KS per component (asymptotic p-values, all components at once); p = min(1,
    k * smallest p). Score: the largest KS distance."""
    ref = np.sort(np.asarray(reference, np.float64), axis=0)
    win = np.sort(np.asarray(window, np.float64), axis=0)
    n, m = len(win), len(ref)
    if n < 2 or m < 2:
        return DriftTest("ks", 0.0, 1.0, 0)
    distances = np.empty(ref.shape[1])
    for j in range(ref.shape[1]):
        points = np.concatenate([ref[:, j], win[:, j]])
        cdf_ref = np.searchsorted(ref[:, j], points, side="right") / m
        cdf_win = np.searchsorted(win[:, j], points, side="right") / n
        distances[j] = np.abs(cdf_ref - cdf_win).max()
    p_values = stats.kstwobign.sf(distances * np.sqrt(n * m / (n + m)))
    p = float(min(1.0, p_values.min() * len(p_values)))
    return DriftTest("ks", float(distances.max()), p, n)


def mmd_test(
    reference: np.ndarray,
    window: np.ndarray,
    *,
    permutations: int = MMD_PERMUTATIONS,
    seed: int = 0,
    bandwidth: float | None = None,
) -> DriftTest:
    """MMD² (biased estimate) with a Gaussian kernel; p-value from ``permutations``
    random relabellings of the pooled sample (fixed ``seed``: the same windows always give
    the same answer). ``bandwidth``: the kernel's squared length scale (default: the median
    squared distance between reference rows)."""
    ref, win = np.asarray(reference, np.float64), np.asarray(window, np.float64)
    n, m = len(win), len(ref)
    if n < 2 or m < 2:
        return DriftTest("mmd", 0.0, 1.0, 0)
    pooled = np.concatenate([ref, win])
    squared = (pooled**2).sum(axis=1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2.0 * pooled @ pooled.T, 0.0)
    if bandwidth is None:
        upper = distances[:m, :m][np.triu_indices(m, 1)]
        bandwidth = float(np.median(upper)) if len(upper) else 1.0
    kernel = np.exp(-distances / max(bandwidth, 1e-12))
    total = n + m
    # Each column a labelling: +1/m for a reference row, -1/n for a window row; MMD² = s'Ks.
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((permutations, total)), axis=1)
    labels = np.empty((permutations + 1, total))
    labels[0, :m], labels[0, m:] = 1.0 / m, -1.0 / n
    labels[1:] = labels[0][order]
    values = np.einsum("pi,ij,pj->p", labels, kernel, labels, optimize=True)
    observed = float(values[0])
    p = float((1 + np.sum(values[1:] >= observed)) / (permutations + 1))
    return DriftTest("mmd", observed, p, n)


def residual_test(reference: np.ndarray, window: np.ndarray) -> DriftTest:
    """Do the window's residuals run larger than the reference's (out of sample)? Welch's
    one-sided t-test; score: the t statistic."""
    ref, win = np.asarray(reference, np.float64), np.asarray(window, np.float64)
    if len(win) < 2 or len(ref) < 2:
        return DriftTest("residual", 0.0, 1.0, 0)
    result = stats.ttest_ind(win, ref, equal_var=False, alternative="greater")
    statistic, p = float(result.statistic), float(result.pvalue)
    if not np.isfinite(p):  # both constant
        statistic, p = 0.0, 1.0
    return DriftTest("residual", statistic, p, len(win))


def embedding_drift(
    reference: np.ndarray, window: np.ndarray, *, method: str = DEFAULT_METHOD
) -> DriftTest:
    """The window's sketches against the reference's (``drift_reference_sketches``), by
    ``method`` (one of ``METHODS``). The last column of a sketch is its residual; the
    others its coordinates. "combined" (the default): the smallest of each test's p-value
    divided by its share of ``COMBINED_WEIGHTS`` (a weighted Bonferroni, so its false-alarm
    rate stays at most the threshold's); its score is -log10 of that p-value."""
    ref = _sample(np.asarray(reference, dtype=np.float32))
    win = np.asarray(window, dtype=np.float32)
    if method == "mmd":
        return mmd_test(ref[:, :-1], win[:, :-1])
    if method == "mean_shift":
        return mean_shift_test(ref[:, :-1], win[:, :-1])
    if method == "ks":
        return ks_bonferroni_test(ref[:, :-1], win[:, :-1])
    if method == "residual":
        return residual_test(ref[:, -1], win[:, -1])
    if method == "combined":
        parts = [mean_shift_test(ref[:, :-1], win[:, :-1]), residual_test(ref[:, -1], win[:, -1])]
        if parts[0].n == 0:
            return DriftTest("combined", 0.0, 1.0, 0)
        p = min(1.0, min(part.p_value / COMBINED_WEIGHTS[part.name] for part in parts))
        return DriftTest("combined", float(-np.log10(max(p, 1e-300))), p, parts[0].n)
    raise ValueError(f"Unknown drift test {method!r}; choose one of {', '.join(METHODS)}.")


def confidence_drift(baseline: np.ndarray, window: np.ndarray) -> DriftTest:
    """Two-sample KS on the top confidence: the window against a baseline window (the
    version's first predictions)."""
    base, win = np.asarray(baseline, np.float64), np.asarray(window, np.float64)
    if len(base) < 2 or len(win) < 2:
        return DriftTest("confidence", 0.0, 1.0, 0)
    result = stats.ks_2samp(base, win, method="asymp")
    return DriftTest("confidence", float(result.statistic), float(result.pvalue), len(win))


def label_mix_drift(counts: Mapping[str, int], expected: Mapping[str, float]) -> DriftTest:
    """Chi-square of the predicted ``counts`` per label against the ``expected`` mix (any
    positive weights, e.g. the training counts). Labels missing from ``expected`` are
    ignored; labels expected with weight 0 get a small floor, so one appearing is a large
    difference rather than a division by zero."""
    names = [name for name in expected if expected[name] >= 0]
    observed = np.array([float(counts.get(name, 0)) for name in names])
    n = float(observed.sum())
    if len(names) < 2 or n < 1:
        return DriftTest("label_mix", 0.0, 1.0, 0)
    weights = np.array([float(expected[name]) for name in names])
    weights = np.maximum(weights / max(weights.sum(), 1e-12), 1e-3)
    weights = weights / weights.sum()
    result = stats.chisquare(observed, weights * n)
    return DriftTest("label_mix", float(result.statistic), float(result.pvalue), int(n))


@dataclass(frozen=True, slots=True)
class DriftVerdict:
    """The window's verdict: ``status`` with the embedding test's ``score`` and
    ``p_value``, and every test that ran."""

    status: str  # "ok" | "warning" | "alert"
    score: float
    p_value: float
    tests: tuple[DriftTest, ...]


STATUS_ORDER = ("ok", "warning", "alert")


def drift_status(p_value: float, *, alert_p: float, warning_p: float) -> str:
    if p_value < alert_p:
        return "alert"
    if p_value < warning_p:
        return "warning"
    return "ok"


def drift_combine(
    embedding: DriftTest,
    others: Sequence[DriftTest] = (),
    *,
    alert_p: float,
    warning_p: float,
) -> DriftVerdict:
    """The embedding test decides: "alert" under ``alert_p``, "warning" under
    ``warning_p``. The confidence and label-mix tests (``others``) can raise a warning,
    never an alert: the predicted mix of a deployment often differs from its training mix
    for good reasons, and its false alarms were not measured (the embedding test's were,
    in ``bench/bench_drift.py``). Each of them warns under ``alert_p`` divided by their
    number (Bonferroni)."""
    status = drift_status(embedding.p_value, alert_p=alert_p, warning_p=warning_p)
    ran = tuple(test for test in others if test.n > 0)
    if status == "ok" and any(test.p_value < alert_p / len(ran) for test in ran):
        status = "warning"
    return DriftVerdict(status, embedding.score, embedding.p_value, (embedding, *ran))
