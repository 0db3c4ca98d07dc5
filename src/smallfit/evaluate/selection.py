"""Honest estimates after a search: the winner's cross-validated score is the best of
many, so it leans optimistic (the winner's curse). Two corrections:

- an outer holdout: a stratified part of the data (whole groups, when items come in
  groups) the search never sees, scored once by
  the winner fitted on the rest (used when there are enough items to spare one);
- bootstrap bias-corrected cross-validation (BBC-CV, Tsamardinos, Greasidou and Borboudakis
  2018, Machine Learning 107): resample the items, pick the configuration that is best on
  the resample, and score it on the items left out; the mean over resamples estimates the
  performance of "search, then take the best", at no extra training cost.

Written here because no maintained library implements BBC-CV.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from smallfit.evaluate.metrics import item_correctness, resampler, wilson_widened

HOLDOUT_MIN_ITEMS = 400  # below this a 20% holdout is too small to be worth its cost
HOLDOUT_FRACTION = 0.2
HOLDOUT_MIN_GROUPS = 10  # per class: fewer, and a fifth of the groups is too few to score
N_BOOTSTRAP = 1000


def outer_split(
    y: np.ndarray, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """(search, holdout) index arrays, stratified (with `groups`: whole groups on either
    side), or None when the data is too small (under HOLDOUT_MIN_ITEMS items, a class
    with fewer than 10 examples, or with groups, fewer than HOLDOUT_MIN_GROUPS of them)."""
    counts = np.bincount(y)
    if len(y) < HOLDOUT_MIN_ITEMS or counts[counts > 0].min() < 10:
        return None
    if groups is None:
        search, holdout = train_test_split(
            np.arange(len(y)), test_size=HOLDOUT_FRACTION, stratify=y, random_state=seed
        )
        return np.sort(search), np.sort(holdout)
    fewest = min(np.unique(groups[y == c]).size for c in np.unique(y))
    if fewest < HOLDOUT_MIN_GROUPS:
        return None
    parts = StratifiedGroupKFold(round(1 / HOLDOUT_FRACTION), shuffle=True, random_state=seed)
    search, holdout = next(parts.split(np.zeros(len(y)), y, groups))
    return np.sort(search), np.sort(holdout)


def bbc_cv(
    y: np.ndarray,
    probas: list[np.ndarray],
    n_bootstrap: int = N_BOOTSTRAP,
    random_state: int = 0,
    groups: np.ndarray | None = None,
) -> dict:
    """BBC-CV accuracy of choosing the best of `probas` (each configuration's out-of-fold
    probabilities on the same splits): mean out-of-bag accuracy of the in-bag winner, with
    the 2.5 and 97.5 percentiles of those out-of-bag accuracies as the interval (with
    `groups`, one per item, resamples draw and leave out whole groups)."""
    table = np.stack([item_correctness(y, p) for p in probas])  # (configurations, n)
    scored = ~np.isnan(table).any(axis=0)
    table = table[:, scored]
    n = table.shape[1]
    draw = resampler(n, None if groups is None else groups[scored])
    rng = np.random.default_rng(random_state)
    scores = []
    for _ in range(n_bootstrap):
        drawn = draw(rng)
        left_out = np.ones(n, dtype=bool)
        left_out[drawn] = False
        if not left_out.any():
            continue
        winner = int(np.argmax(table[:, drawn].mean(axis=1)))
        scores.append(table[winner, left_out].mean())
    method = f"BBC-CV over {len(probas)} configuration(s), {len(scores)} bootstrap draws"
    units = n if groups is None else np.unique(groups[scored]).size  # independent ones
    return left_out_estimate(np.array(scores), method, units)


def left_out_estimate(accuracies: np.ndarray, method: str, n_items: int) -> dict:
    """The mean of a procedure's accuracies on the items its resamples left out, with
    their 2.5-97.5 percentiles as the 95% interval (BBC-CV's estimate), widened where
    needed to the Wilson interval of that accuracy on the `n_items` scored
    (metrics.wilson_widened)."""
    low, high = np.percentile(accuracies, [2.5, 97.5])
    low, high = wilson_widened(float(accuracies.mean()), low, high, n_items)
    return {
        "value": round(float(accuracies.mean()), 6),
        "low": round(float(low), 6),
        "high": round(float(high), 6),
        "method": method,
    }
