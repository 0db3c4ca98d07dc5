"""Query strategies: which pool items to label next, by one criterion each.

Each is a small function registered by name in `QUERIES`; it looks at a `Candidates`
(the pool's L2-normalised embeddings by the model's reference encoder, the stored
embeddings of the items already labeled, and, for those that need a model, its
probabilities on the pool or a committee's) and returns the chosen pool rows in order,
each with a score and a reason a person can read.

- `least-confidence`, `margin`, `entropy`: the model's own uncertainty.
- `kcenter`: k-center greedy (Sener & Savarese 2018) from the labeled embeddings, so
  each pick is the pool item farthest from everything labeled or chosen.
- `committee`: query by committee (Seung et al. 1992); the members are the model's
  strategy refit on each cross-validation fold of the stored reference sample, and the
  disagreement is their Jensen-Shannon divergence (mutual information, in bits).
- `hybrid` (the default with a model): k-means with k = n clusters the pool, so a batch
  is n different regions, not n near-copies; in each cluster the item with the largest
  (1 - margin) x typicality is taken (information density, Settles & Craven 2008). With
  few labels the model is uncertain nearly everywhere, so typicality decides and picks
  are representative (what works at tiny budgets, Hacohen et al. 2022); as labels grow,
  uncertainty concentrates near the class boundaries and decides instead.
- `typiclust` (the default cold start; Hacohen et al. 2022, "low budget"): k-means into
  |labeled| + n clusters, then the most typical item (densest neighbourhood) of the
  largest clusters holding the fewest labeled items: representative and diverse.
- `random`: a uniform sample, the baseline every strategy must beat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from smallfit.active.geometry import kmeans, nearest_distances, typicality, unit_distances

# TypiClust's cap on clusters, and the size below which a cluster is left for last (tiny
# clusters are outliers, not regions worth a label); Hacohen et al. 2022, their code.
MAX_CLUSTERS = 500
MIN_CLUSTER_SIZE = 5


@dataclass
class Candidates:
    """What a query strategy may look at (all embeddings L2-normalised, float32)."""

    pool: np.ndarray  # (n_pool, dim)
    labeled: np.ndarray  # (n_labeled, dim); empty at a cold start
    classes: list
    proba: np.ndarray | None = None  # (n_pool, n_classes), the model's
    committee: np.ndarray | None = None  # (members, n_pool, n_classes)
    seed: int = 0


@dataclass
class Picks:
    """Pool rows in the order chosen, each with its score and the reason in words."""

    rows: np.ndarray
    scores: np.ndarray
    reasons: list[str]


@dataclass(frozen=True)
class Query:
    name: str
    select: Callable[[Candidates, int], Picks]
    needs: str | None  # "proba", "committee", or None: embeddings only (works cold)
    score: str  # what the score column means


QUERIES: dict[str, Query] = {}


def query(name: str, needs: str | None, score: str):
    """Register a query strategy `select(candidates, n) -> Picks` under `name`."""

    def register(select: Callable[[Candidates, int], Picks]):
        QUERIES[name] = Query(name, select, needs, score)
        return select

    return register


def _top_two(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the two most probable classes and the margin between them."""
    order = np.argsort(-proba, axis=1, kind="stable")
    first, second = order[:, 0], order[:, 1] if proba.shape[1] > 1 else order[:, 0]
    rows = np.arange(len(proba))
    return first, second, proba[rows, first] - proba[rows, second]


def _entropy_bits(proba: np.ndarray) -> np.ndarray:
    safe = np.clip(proba, 1e-12, 1.0)
    return -(proba * np.log2(safe)).sum(axis=-1)


def _ranked(values: np.ndarray, n: int, describe: Callable[[int], str]) -> Picks:
    """The n rows with the largest `values` (ties: earlier row first)."""
    rows = np.argsort(-values, kind="stable")[:n]
    return Picks(rows, values[rows], [describe(int(i)) for i in rows])


@query("least-confidence", "proba", "1 - the top class probability (largest first)")
def least_confidence(c: Candidates, n: int) -> Picks:
    top = c.proba.max(axis=1)
    best = c.proba.argmax(axis=1)
    return _ranked(1 - top, n, lambda i: f"top class {c.classes[best[i]]} at only {top[i]:.2f}")


@query("margin", "proba", "top minus second class probability (smallest first)")
def margin(c: Candidates, n: int) -> Picks:
    first, second, gap = _top_two(c.proba)
    picks = _ranked(
        -gap,
        n,
        lambda i: f"margin {gap[i]:.2f} between {c.classes[first[i]]} and {c.classes[second[i]]}",
    )
    picks.scores = -picks.scores
    return picks


@query("entropy", "proba", "entropy of the predicted probabilities in bits (largest first)")
def entropy(c: Candidates, n: int) -> Picks:
    bits = _entropy_bits(c.proba)
    first, second, _ = _top_two(c.proba)
    most = np.log2(c.proba.shape[1])
    return _ranked(
        bits,
        n,
        lambda i: (
            f"entropy {bits[i]:.2f} of at most {most:.2f} bits; "
            f"{c.classes[first[i]]} {c.proba[i, first[i]]:.2f}, "
            f"{c.classes[second[i]]} {c.proba[i, second[i]]:.2f}"
        ),
    )


@query("kcenter", None, "distance to the nearest labeled or already chosen item (largest first)")
def k_center(c: Candidates, n: int) -> Picks:
    """Greedy k-center: each pick is the pool item farthest from all labeled and picked
    items (a 2-approximation of the best cover, Sener & Savarese 2018)."""
    rows, scores, reasons = [], [], []
    if len(c.labeled):
        nearest = nearest_distances(c.pool, c.labeled)
    else:  # a cold start begins at the most central item
        centre = c.pool.mean(axis=0)
        first = int(np.linalg.norm(c.pool - centre, axis=1).argmin())
        rows.append(first)
        scores.append(float(np.linalg.norm(c.pool[first] - centre)))
        reasons.append("the most central pool item (where the cover starts)")
        nearest = unit_distances(c.pool, c.pool[[first]]).ravel()
        nearest[first] = -np.inf
    while len(rows) < n:
        pick = int(nearest.argmax())
        rows.append(pick)
        scores.append(float(nearest[pick]))
        reasons.append(
            f"distance {nearest[pick]:.2f} to the nearest labeled or chosen item, the farthest left"
        )
        nearest = np.minimum(nearest, unit_distances(c.pool, c.pool[[pick]]).ravel())
        nearest[rows] = -np.inf  # never again, even when duplicates leave all distances 0
    return Picks(np.array(rows), np.array(scores), reasons)


@query("committee", "committee", "disagreement of the fold models in bits (largest first)")
def committee(c: Candidates, n: int) -> Picks:
    consensus = c.committee.mean(axis=0)
    disagreement = _entropy_bits(consensus) - _entropy_bits(c.committee).mean(axis=0)
    votes = c.committee.argmax(axis=2)  # (members, n_pool)

    def describe(i: int) -> str:
        counts = np.bincount(votes[:, i], minlength=len(c.classes))
        said = ", ".join(
            f"{counts[k]} say {c.classes[k]}"
            for k in np.argsort(-counts, kind="stable")
            if counts[k]
        )
        return f"the {len(votes)} fold models disagree ({said}; {disagreement[i]:.2f} bits)"

    return _ranked(disagreement, n, describe)


@query("hybrid", "proba", "(1 - margin) x typicality within its cluster (largest first)")
def hybrid(c: Candidates, n: int) -> Picks:
    clusters = kmeans(c.pool, n, c.seed)
    typical = typicality(c.pool, clusters)
    for k in np.unique(clusters):  # relative to the cluster's most typical item: (0, 1]
        typical[clusters == k] /= typical[clusters == k].max()
    first, second, gap = _top_two(c.proba)
    value = (1 - gap) * typical
    best = [
        int(np.flatnonzero(clusters == k)[value[clusters == k].argmax()])
        for k in np.unique(clusters)
    ]
    rest = [int(i) for i in np.argsort(-value, kind="stable") if i not in set(best)]
    chosen = sorted(best, key=lambda i: -value[i]) + rest  # k-means may leave clusters empty
    rows = np.array(chosen[:n])
    sizes = np.bincount(clusters)
    return Picks(
        rows,
        value[rows],
        [
            f"margin {gap[i]:.2f} between {c.classes[first[i]]} and {c.classes[second[i]]}; "
            f"typicality {typical[i]:.2f} in its cluster of {sizes[clusters[i]]}"
            for i in rows
        ],
    )


@query("typiclust", None, "typicality: 1 / mean distance to its nearest neighbours (largest first)")
def typiclust(c: Candidates, n: int) -> Picks:
    """TypiClust (Hacohen, Dekel & Weinshall 2022): cluster labeled and pool items into
    |labeled| + n clusters; take, n times, the most typical unpicked pool item of the
    cluster with the fewest labeled (or picked) items, the largest among equals."""
    features = np.vstack([c.labeled, c.pool])
    offset = len(c.labeled)
    clusters = kmeans(features, min(offset + n, MAX_CLUSTERS), c.seed)
    typical = typicality(features, clusters)[offset:]
    pool_clusters = clusters[offset:]
    count = np.bincount(clusters, minlength=clusters.max() + 1)
    covered = np.bincount(clusters[:offset], minlength=len(count))
    open_ = np.ones(len(c.pool), dtype=bool)
    rows, scores, reasons = [], [], []
    for _ in range(n):
        usable = np.bincount(pool_clusters[open_], minlength=len(count)) > 0
        if (usable & (count >= MIN_CLUSTER_SIZE)).any():
            usable &= count >= MIN_CLUSTER_SIZE
        # fewest labeled items first, then the largest cluster
        cluster = min(np.flatnonzero(usable), key=lambda k: (covered[k], -count[k], k))
        members = np.flatnonzero(open_ & (pool_clusters == cluster))
        pick = int(members[typical[members].argmax()])
        reasons.append(
            f"the most typical open item of a cluster of {count[cluster]} "
            f"({covered[cluster]} labeled or chosen before)"
        )
        rows.append(pick)
        scores.append(float(typical[pick]))
        covered[cluster] += 1
        open_[pick] = False
    return Picks(np.array(rows), np.array(scores), reasons)


@query("random", None, "a uniform random number (the order drawn)")
def random_sample(c: Candidates, n: int) -> Picks:
    draws = np.random.default_rng(c.seed).random(len(c.pool))
    rows = np.argsort(draws, kind="stable")[:n]
    return Picks(rows, draws[rows], ["uniform random sample (the baseline)"] * len(rows))
