"""The embedding geometry the diversity strategies rank by: distances between unit
vectors, k-means clusters, and typicality (how dense an item's neighbourhood is)."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

# TypiClust's number of neighbours that define typicality (Hacohen et al. 2022, their code).
TYPICAL_NEIGHBOURS = 20


def unit_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between unit rows, from one matrix product: |a - b|^2 = 2 - 2 a.b
    (several times faster than sklearn's general, float64 pairwise_distances)."""
    return np.sqrt(np.clip(2 - 2 * (a @ b.T), 0, None))


def nearest_distances(a: np.ndarray, b: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Distance from each row of `a` to its nearest row of `b` (unit rows), in bounded memory."""
    return np.concatenate(
        [unit_distances(a[i : i + chunk], b).min(axis=1) for i in range(0, len(a), chunk)]
    )


def kmeans(features: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Cluster labels (k-means++, one start); MiniBatchKMeans above 50 clusters, as
    TypiClust does, for speed."""
    k = min(k, len(features))
    kind = KMeans if k <= 50 else MiniBatchKMeans
    with warnings.catch_warnings():  # duplicates can leave fewer distinct clusters than k
        warnings.simplefilter("ignore")
        return kind(n_clusters=k, random_state=seed, n_init=1).fit_predict(features)


def typicality(features: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """1 / mean distance to the nearest neighbours within each item's cluster (TypiClust:
    min(20, half the cluster) of them); 1 for an item alone in its cluster."""
    typical = np.ones(len(features))
    for k in np.unique(clusters):
        members = np.flatnonzero(clusters == k)
        neighbours = min(TYPICAL_NEIGHBOURS, len(members) // 2)
        if neighbours == 0:
            continue
        distances = unit_distances(features[members], features[members])
        nearest = np.partition(distances, neighbours, axis=1)[:, : neighbours + 1]
        # the row's smallest entry is the item itself (0), so the sum is over its neighbours
        typical[members] = 1 / (nearest.sum(axis=1) / neighbours + 1e-5)
    return typical
