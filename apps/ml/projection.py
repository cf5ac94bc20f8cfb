"""A data set seen from above: a 2-D map of its frozen-backbone embeddings, and clusters of
images that look alike (so a newcomer labels a whole group at once).

Plain numpy / scikit-learn, no Django. PCA rather than UMAP or t-SNE: measured on 10,000
synthetic 1,280-dimensional embeddings on the project's 2-core machine (under load), a
randomised PCA took 2 s, UMAP 39 s warm and 210 s on its first call (numba compiling), so
only PCA keeps the map "ready within seconds of training". The same reduction (the first
``REDUCED_DIMS`` principal components) feeds k-means, which is then fast and less noisy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Principal components kept for clustering (the map uses the first two of them).
REDUCED_DIMS = 32
# Largest number of clusters offered: past this a newcomer is labelling one image at a time.
MAX_CLUSTERS = 40
# Images shown per cluster, the nearest to its centre first.
SAMPLE_SIZE = 6
# Silhouette scores are computed on at most this many images (an N x N matrix otherwise).
SILHOUETTE_SAMPLE = 2000


def _prepared(features: np.ndarray) -> np.ndarray:
    """Unit rows, centred: every backbone feature vector shares a large common component
    that would otherwise be the first principal direction."""
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"Expected features of shape [N, D], got {x.shape}.")
    x = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    return x - x.mean(axis=0, keepdims=True) if len(x) else x


def reduce_embeddings(
    features: np.ndarray, *, dims: int = REDUCED_DIMS, seed: int = 0
) -> np.ndarray:
    """The first ``dims`` principal components of the (unit, centred) embeddings [N, dims'],
    with dims' = min(dims, N - 1, D) (at least 1). Randomised SVD: seconds for 10,000 rows."""
    from sklearn.decomposition import PCA

    x = _prepared(features)
    n, d = x.shape
    if n < 2:
        return np.zeros((n, 1), dtype=np.float32)
    components = max(1, min(dims, n - 1, d))
    pca = PCA(n_components=components, svd_solver="randomized", random_state=seed)
    return pca.fit_transform(x).astype(np.float32)


def map_coordinates(reduced: np.ndarray) -> np.ndarray:
    """[N, 2] map coordinates from ``reduce_embeddings``' output: its first two components,
    scaled together into [-1, 1] (the same scale on both axes, so distances stay honest)."""
    r = np.asarray(reduced, dtype=np.float32)
    coords = np.zeros((len(r), 2), dtype=np.float32)
    width = min(2, r.shape[1]) if r.ndim == 2 else 0
    coords[:, :width] = r[:, :width]
    scale = float(np.abs(coords).max()) if len(coords) else 0.0
    return coords / scale if scale > 0 else coords


def embedding_map(features: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """[N, 2] coordinates in [-1, 1] of every embedding (PCA)."""
    return map_coordinates(reduce_embeddings(features, dims=2, seed=seed))


def candidate_ks(n: int, *, max_k: int = MAX_CLUSTERS) -> list[int]:
    """Numbers of clusters to try for ``n`` images: a few values up to sqrt(n / 2) (capped).

    Too many clusters costs the user one extra click per cluster; too few mixes two kinds of
    image in one cluster, which costs a fix per stray: so the candidates lean large."""
    if n < 4:
        return [1] if n else []
    top = max(2, min(max_k, round(math.sqrt(n / 2)), n - 1))
    low = max(2, top // 2)
    ks = sorted({low, (low + top) // 2, top, max(2, round(top * 0.75))})
    return [k for k in ks if 2 <= k < n]


@dataclass(frozen=True)
class Clusters:
    assignment: np.ndarray  # [N] cluster id per row, 0..k-1, clusters ordered largest first
    samples: list[list[int]]  # per cluster: row indexes nearest its centre, SAMPLE_SIZE at most
    k: int
    silhouette: float | None  # of the chosen k (None when only one k was possible)


def cluster_embeddings(
    features: np.ndarray,
    *,
    k: int | None = None,
    seed: int = 0,
    reduced: np.ndarray | None = None,
    sample_size: int = SAMPLE_SIZE,
) -> Clusters:
    """Group embeddings with k-means on their principal components. ``k`` None: the
    candidate (``candidate_ks``) with the best silhouette score. ``reduced`` reuses a
    ``reduce_embeddings`` result computed for the map."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    x = reduce_embeddings(features, seed=seed) if reduced is None else np.asarray(reduced)
    n = len(x)
    if n == 0:
        return Clusters(np.zeros(0, dtype=np.int64), [], 0, None)
    ks = [min(k, n)] if k is not None else candidate_ks(n)
    if ks == [1] or n < 3:
        order = np.argsort(np.linalg.norm(x - x.mean(axis=0), axis=1), kind="stable")
        return Clusters(np.zeros(n, dtype=np.int64), [order[:sample_size].tolist()], 1, None)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for candidate in ks:
        model = KMeans(n_clusters=candidate, n_init=2, random_state=seed).fit(x)
        if len(ks) == 1:
            best = (float("nan"), model.labels_, model.cluster_centers_)
            break
        score = float(
            silhouette_score(
                x, model.labels_, sample_size=min(n, SILHOUETTE_SAMPLE), random_state=seed
            )
        )
        if best is None or score > best[0]:
            best = (score, model.labels_, model.cluster_centers_)
    assert best is not None
    score, labels, centres = best
    # Largest cluster first, so ids read in order of how much one click labels.
    sizes = np.bincount(labels, minlength=len(centres))
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    assignment = rank[labels].astype(np.int64)
    samples = []
    for cluster in order:
        members = np.flatnonzero(labels == cluster)
        distance = np.linalg.norm(x[members] - centres[cluster], axis=1)
        samples.append(members[np.argsort(distance, kind="stable")[:sample_size]].tolist())
    return Clusters(
        assignment=assignment,
        samples=samples,
        k=len(centres),
        silhouette=None if math.isnan(score) else round(score, 4),
    )


def cold_start_order(samples: Sequence[Sequence[int]], *, limit: int = 50) -> list[int]:
    """Which unlabelled images to label first when no model exists yet, from clusters'
    typical-first samples (``Clusters.samples``, largest cluster first): the most typical
    image of each cluster, then the second most typical of each, and so on (at most
    ``limit``).

    Typical and diverse at once: the first few labels cover the groups the data falls into
    (so, usually, every class) with images that stand for many others, which is what a first
    linear head needs; random picks spend labels on repeats of the largest class and on odd
    images (bench.bench_active_learning)."""
    order: list[int] = []
    for rank in range(max((len(s) for s in samples), default=0)):
        for members in samples:
            if rank < len(members):
                order.append(int(members[rank]))
                if len(order) >= limit:
                    return order
    return order
