"""Two-sample tests shared by drift checks of whole items and of a table's columns: the
maximum mean discrepancy with a permutation p-value, and Holm's correction for testing
several things at once.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics.pairwise import euclidean_distances

from smallfit.progress import progress_bar

PERMUTATIONS = 1000
PERMUTATION_CHUNK = 100


def mmd_test(
    reference: np.ndarray, new: np.ndarray, permutations: int = PERMUTATIONS, seed: int = 0
) -> dict[str, float]:
    """Squared MMD (biased estimate) of two samples and its permutation p-value.

    Written with numpy: alibi-detect has this test but would pin numpy below 2 and
    transformers below 5 and pull numba and OpenCV; torchdrift is unmaintained. Each
    permutation's statistic is w' K w for a reshuffled weight vector w (1/n on one
    sample, -1/m on the other), so a chunk of permutations is one matrix product.
    """
    pooled = np.vstack([reference, new]).astype(np.float64)
    squared = euclidean_distances(pooled, squared=True)
    bandwidth = float(np.median(squared[np.triu_indices(len(pooled), 1)]))
    kernel = np.exp(-squared / (bandwidth if bandwidth > 0 else 1.0))
    n, m = len(reference), len(new)
    weights = np.concatenate([np.full(n, 1.0 / n), np.full(m, -1.0 / m)])
    observed = float(weights @ kernel @ weights)
    rng = np.random.default_rng(seed)
    null = []
    chunks = range(0, permutations, PERMUTATION_CHUNK)
    with progress_bar(len(chunks), "Permutation test") as advance:
        for start in chunks:
            count = min(PERMUTATION_CHUNK, permutations - start)
            shuffled = np.stack([rng.permutation(weights) for _ in range(count)], axis=1)
            null.append(np.einsum("ip,ip->p", shuffled, kernel @ shuffled))
            advance()
    null = np.concatenate(null)
    p_value = (1 + int((null >= observed).sum())) / (1 + permutations)
    return {"mmd2": observed, "p_value": p_value, "bandwidth": bandwidth}


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values (Holm 1979): rejecting those below alpha keeps the chance of
    any false alarm among all the tests at most alpha, whatever their dependence."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    scaled = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(scaled, 1.0)
    return adjusted.tolist()
