"""How the classes are populated: imbalance (a class with under half an even share of
the items) and outliers (items far from every class centroid in the doctor's vectors)."""

from __future__ import annotations

import numpy as np

from smallfit.data import Dataset
from smallfit.doctor.duplicates import FAR_OUT
from smallfit.doctor.findings import Finding
from smallfit.numeric import normalise


def class_imbalance(dataset: Dataset) -> list[Finding]:
    """One finding when some class has under half an even share of the items: below that,
    accuracy is visibly led by the large classes, so read balanced accuracy and recall."""
    counts = dataset.class_counts()
    even = len(dataset) / len(counts)
    small = sorted((c for c, n in counts.items() if n < even / 2), key=lambda c: counts[c])
    if not small:
        return []
    largest = max(counts, key=counts.get)
    ratio = counts[largest] / max(counts[small[0]], 1)
    shown = ", ".join(f"{c} ({counts[c]})" for c in small)
    return [
        Finding(
            "class_imbalance",
            [str(c) for c in small],
            f"largest class {largest} has {counts[largest]} items, {ratio:.1f}x the smallest; "
            f"under half an even share ({even:.0f}): {shown}",
            float(ratio),
            f"Add examples of {', '.join(map(str, small[:3]))} if you can; judge the model by "
            "balanced accuracy and per-class recall (the probe already weighs classes "
            "evenly).",
        )
    ]


def outliers(
    dataset: Dataset, embeddings: np.ndarray, metric: str = "cosine"
) -> tuple[list[Finding], dict[str, str]]:
    """Items whose distance (`metric`, see similarity.VECTOR_SIGNAL) to the nearest class
    centroid (their own class's without them) is above the far-out fence (Q3 + 3 IQR) of
    all items' such distances."""
    y = dataset.y
    vectors = normalise(embeddings) if metric == "cosine" else embeddings.astype(np.float64)
    sums = np.zeros((len(dataset.classes), vectors.shape[1]))
    np.add.at(sums, y, vectors)
    counts = np.bincount(y, minlength=len(dataset.classes)).astype(np.float64)
    means = sums / np.maximum(counts, 1)[:, None]
    own = (sums[y] - vectors) / np.maximum(counts[y] - 1, 1)[:, None]  # without the item
    distance = _to_centroids(vectors, means, metric)
    rows = np.arange(len(y))
    to_own = _paired(vectors, own, metric)
    distance[rows, y] = np.where(counts[y] > 1, to_own, np.inf)
    distance[:, counts == 0] = np.inf
    nearest = distance.argmin(axis=1)
    distance = distance[rows, nearest]
    q1, q3 = np.quantile(distance, [0.25, 0.75])
    fence = q3 + FAR_OUT * (q3 - q1)
    findings = [
        Finding(
            "outlier",
            [dataset.names[i]],
            f"{metric} distance {distance[i]:.3f} to the nearest class centroid "
            f"({dataset.classes[int(nearest[i])]}); fence {fence:.3f}",
            float(distance[i]),
            "Look at it: it may be from another source, corrupt, or a class not in the data; "
            "remove it if it does not belong.",
        )
        for i in np.flatnonzero(distance > fence)
    ]
    note = f"distance to the nearest class centroid above Q3 + {FAR_OUT:g} IQR = {fence:.3f}"
    return sorted(findings, key=lambda f: -f.score), {"outliers": note}


def _to_centroids(vectors: np.ndarray, centroids: np.ndarray, metric: str) -> np.ndarray:
    """(n, K) distances of unit (cosine) or raw (Euclidean) vectors to the centroids."""
    if metric == "cosine":
        return 1.0 - vectors @ normalise(centroids).T
    squared = (vectors**2).sum(axis=1)[:, None] + (centroids**2).sum(axis=1)[None, :]
    return np.sqrt(np.maximum(squared - 2 * vectors @ centroids.T, 0.0))


def _paired(vectors: np.ndarray, others: np.ndarray, metric: str) -> np.ndarray:
    """(n,) distance of each vector to the same row of `others`."""
    if metric == "cosine":
        norms = np.linalg.norm(others, axis=1)
        return 1.0 - (vectors * others).sum(axis=1) / np.maximum(norms, 1e-12)
    return np.linalg.norm(vectors - others, axis=1)
