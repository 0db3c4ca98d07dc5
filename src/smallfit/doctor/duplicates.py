"""Copies in the data: exact duplicates (a hash of what the modality says counts:
Modality.duplicate_content) and copies that disagree on their label; near duplicates;
and leakage, copies shared by a training and a test set, which inflate test scores.

Near duplicates are judged relative to the data's own spacing, by a ratio test (as in
Lowe's SIFT matching): a pair's distance is divided by the local spacing of both items
(each one's distance to its 10th nearest neighbour), and a pair is a near duplicate when
that ratio is a far-out low value among every item's nearest-neighbour ratio (below
Tukey's far-out fence, Q1 - 3 IQR, of their logarithms). Two signals (see
`smallfit.doctor.similarity`) are tested alone and together (the product of their ratios).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from smallfit import modalities
from smallfit.data import Dataset
from smallfit.doctor.findings import Finding
from smallfit.doctor.similarity import VECTOR_SIGNAL, described, distance_signals, similarity

LOCAL_SCALE_NEIGHBOUR = 10  # the k-th nearest neighbour's distance is an item's local spacing
FAR_OUT = 3.0  # Tukey's far-out fence, in interquartile ranges
# A near duplicate is at least twice as close as its items' spacing, whatever the fence
# says: where most items have no close neighbour in a signal (short texts share no word
# 3-grams) the spread is zero and the fence would admit any pair sharing anything.
MAX_RATIO = 0.5


# -- exact duplicates ---------------------------------------------------------------------
def exact_duplicates(dataset: Dataset) -> list[Finding]:
    """Groups of items with the same content (hash); copies labeled differently apart."""
    findings = []
    for group in _groups_by_content(dataset.items, dataset.modality):
        names = [dataset.names[i] for i in group]
        labels = sorted({str(dataset.labels[i]) for i in group}) if _labeled(dataset) else []
        if len(labels) > 1:
            findings.append(
                Finding(
                    "conflicting_labels",
                    names,
                    f"{len(group)} identical copies labeled differently: {', '.join(labels)}",
                    float(len(group)),
                    "Decide the right label and keep one copy: a model cannot satisfy both, "
                    "and a copy on each side of a split is counted wrong whatever it predicts.",
                )
            )
        else:
            shown = f", all labeled {labels[0]}" if labels else ""
            findings.append(
                Finding(
                    "exact_duplicate",
                    names,
                    f"{len(group)} identical copies{shown}",
                    float(len(group)),
                    "Keep one copy: copies weigh the item more in training, and a copy on "
                    "each side of a cross-validation split inflates the estimate.",
                )
            )
    return sorted(findings, key=lambda f: -f.score)


def content_key(item: Any, modality: str) -> str:
    """The hash of what counts of an item when looking for copies."""
    from smallfit.data.identity import item_key

    return item_key(modalities.get(modality).duplicate_content(item))


def _groups_by_content(items: list[Any], modality: str) -> list[list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[content_key(item, modality)].append(index)
    return [g for g in groups.values() if len(g) > 1]


def _labeled(dataset: Dataset) -> bool:
    return dataset.labels is not None


# -- near duplicates and leakage -----------------------------------------------------------
def near_pairs(distances: dict[str, np.ndarray]) -> tuple[list[tuple[int, int, str]], str]:
    """Pairs (i, j, signals that flagged them), i < j, by the ratio test of the module doc,
    and a note saying the fences used. Items must be distinct (exact copies removed)."""
    n = len(next(iter(distances.values())))
    if n < 4:
        return [], f"skipped: {n} distinct items are too few to learn the data's spacing"
    k = min(LOCAL_SCALE_NEIGHBOUR, n - 1)
    ratios = {}
    for name, matrix in distances.items():
        matrix = np.maximum(matrix.astype(np.float64), 1e-6)
        np.fill_diagonal(matrix, np.inf)
        spacing = np.partition(matrix, k - 1, axis=1)[:, k - 1]
        ratios[name] = matrix / np.sqrt(np.outer(spacing, spacing))
    if len(ratios) > 1:
        ratios["together"] = np.prod(list(ratios.values()), axis=0)
    flagged: dict[tuple[int, int], list[str]] = defaultdict(list)
    fences = []
    for name, ratio in ratios.items():
        factors = len(distances) if name == "together" else 1
        fence = lower_fence(np.log(ratio.min(axis=1)))
        fence = float(np.exp(min(fence, factors * np.log(MAX_RATIO))))
        fences.append(f"{name} {fence:.3g}")
        for i, j in zip(*np.nonzero(np.triu(ratio < fence, 1)), strict=True):
            flagged[(int(i), int(j))].append(name)
    note = (
        "a pair's distance over the geometric mean of both items' distance to their "
        f"{k}th nearest neighbour, below the far-out fence (Q1 - {FAR_OUT:g} IQR, from the "
        f"upper half, of the log nearest-neighbour ratios; at most {MAX_RATIO:g} per signal): "
        f"{', '.join(fences)}"
    )
    return [(i, j, "+".join(s)) for (i, j), s in sorted(flagged.items())], note


def lower_fence(values: np.ndarray) -> float:
    """Tukey's far-out lower fence, Q1 - 3 IQR, with the quartiles read from the upper half
    of the values (Q1 ~ 2 median - Q3, IQR ~ 2 (Q3 - median)): copies crowd the lower
    tail, and in small data they can be a quarter of the items or more."""
    median, q3 = np.quantile(values, [0.5, 0.75])
    return float(median - (1 + 2 * FAR_OUT) * (q3 - median))


def near_duplicates(
    dataset: Dataset,
    embeddings: np.ndarray,
    test: Dataset | None = None,
    test_embeddings: np.ndarray | None = None,
    metric: str = "cosine",
) -> tuple[list[Finding], dict[str, str]]:
    """Near duplicates within `dataset` and, with a `test` set, leakage: exact and near
    copies shared with it. One representative per exact-copy group takes part. The
    vectors are compared by `metric` (see similarity.VECTOR_SIGNAL)."""
    pooled = list(dataset.items) + (list(test.items) if test is not None else [])
    names = list(dataset.names) + (list(test.names) if test is not None else [])
    vectors = embeddings if test is None else np.vstack([embeddings, test_embeddings])
    in_test = np.arange(len(pooled)) >= len(dataset)
    first: dict[str, int] = {}
    copies: dict[int, list[int]] = defaultdict(list)
    for index, item in enumerate(pooled):
        copies[first.setdefault(content_key(item, dataset.modality), index)].append(index)
    sources = (dataset.source, test.source if test is not None else "")
    findings = [
        _leak(names[i], names[j], sources, 1.0, "identical content")
        for group in copies.values()
        for i in group
        if not in_test[i]
        for j in group
        if in_test[j]
    ]
    distinct = sorted(copies)
    pooled_distinct = [pooled[i] for i in distinct]
    signals = distance_signals(dataset.modality, pooled_distinct, vectors[distinct], metric)
    pairs, note = near_pairs(signals)
    vector_distances = signals[VECTOR_SIGNAL[metric]]
    others = [s for s in signals if s != VECTOR_SIGNAL[metric]]
    for a, b, flagged_by in pairs:
        i, j = distinct[a], distinct[b]
        distance = float(vector_distances[a, b])
        score = similarity(distance, metric)
        shown = ", ".join(
            [described(distance, metric)]
            + [f"{s} similarity {1 - signals[s][a, b]:.3f}" for s in others]
        )
        shown += f" (flagged by {flagged_by})"
        if in_test[i] != in_test[j]:
            train_i, test_j = (i, j) if in_test[j] else (j, i)
            findings.append(_leak(names[train_i], names[test_j], sources, score, shown))
        elif not in_test[i]:
            findings.append(_near(dataset, i, j, score, shown))
    near = sorted([f for f in findings if f.kind == "near_duplicate"], key=lambda f: -f.score)
    leaks = sorted([f for f in findings if f.kind == "leakage"], key=lambda f: -f.score)
    return near + leaks, {"near_duplicates": note}


def _near(dataset: Dataset, i: int, j: int, score: float, shown: str) -> Finding:
    labels = (str(dataset.labels[i]), str(dataset.labels[j])) if _labeled(dataset) else None
    if labels and labels[0] != labels[1]:
        return Finding(
            "near_duplicate",
            [dataset.names[i], dataset.names[j]],
            f"{shown}; labeled differently: {labels[0]} / {labels[1]}",
            score,
            "Look at both side by side: if they show the same thing, fix one label and keep "
            "one copy.",
        )
    return Finding(
        "near_duplicate",
        [dataset.names[i], dataset.names[j]],
        shown,
        score,
        "Look at both side by side: if one is an edited copy of the other (resized, "
        "re-encoded, brightened, re-typed), keep one; copies on both sides of a "
        "cross-validation split inflate the estimate.",
    )


def _leak(
    train_name: str, test_name: str, sources: tuple[str, str], score: float, shown: str
) -> Finding:
    return Finding(
        "leakage",
        [train_name, test_name],
        f"in both the training set {sources[0]} ({train_name}) and the test set {sources[1]} "
        f"({test_name}): {shown}",
        score,
        "Remove it from the test set (or from training): a test item the model was trained "
        "on inflates the test score.",
    )
