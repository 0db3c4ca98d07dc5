"""Cross-validation around the whole strategy, giving out-of-fold probabilities.

Each fold fits a fresh clone of the strategy on the fold's training part only, so
everything the strategy learns (inner C search, prototypes, TF-IDF vocabulary) stays
inside the fold. With a frozen encoder the embeddings come from its cache, so only
heads are refit per fold.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import (
    LeaveOneGroupOut,
    RepeatedStratifiedKFold,
    StratifiedGroupKFold,
)

from smallfit.budget import UNLIMITED, Budget, OutOfTime
from smallfit.data import Dataset
from smallfit.errors import SmallfitError
from smallfit.progress import progress_bar
from smallfit.strategies.base import accepted_fit_params

# The folds and repeats cost at most the fits of REFERENCE_FOLDS-fold cross-validation
# repeated until about TARGET_PREDICTIONS out-of-fold predictions are pooled (at most
# MAX_REPEATS times: beyond, partition noise is small next to the bootstrap interval).
# Within that, folds come first, up to MAX_FOLDS: each then trains on up to 90% of the
# items, so the estimate describes a model trained on nearly as much as the final refit;
# with few labels five folds' 80% measurably understates it (the learning curve is steep
# there), and ten folds' training parts overlap more, so one partition varies less.
REFERENCE_FOLDS = 5
TARGET_PREDICTIONS = 1000
MAX_REPEATS = 5
MAX_FOLDS = 10
# A candidate that trains a network pays seconds a fold, and its refit once more: its
# folds are merged into COARSE_PARTS test parts, the fewest that still train each fold
# model on about two thirds of the items. Measured (default fit, digits and
# Fashion-MNIST at 10 and 50 per class, 3 seeds): accuracy within 0.2 points and
# estimates within 2 points of five parts, for 3 fits on two thirds instead of 5 on four
# fifths, which keeps `scratch` within a third of the whole fit.
COARSE_PARTS = 3


@dataclass
class Splits:
    """Train/test index pairs; `scored` marks items that appear in some test part."""

    pairs: list[tuple[np.ndarray, np.ndarray]]
    repeats: int
    folds: int
    scored: np.ndarray

    def coarse(self, parts: int = COARSE_PARTS) -> Splits:
        """The first repeat's folds, merged into at most `parts` test parts (fold j joins
        part j mod `parts`): the same partition at the cost of one `parts`-fold pass, for
        work whose folds cost seconds to minutes (candidates that train a network). Each
        part still holds every class, as its stratified folds do."""
        first = self.pairs[: len(self.pairs) // self.repeats]
        if len(first) <= parts:
            return Splits(first, 1, self.folds, self.scored)
        every = np.union1d(*first[0])
        tests = [
            np.sort(np.concatenate([test for _, test in first[part::parts]]))
            for part in range(parts)
        ]
        pairs = [(np.setdiff1d(every, test), test) for test in tests]
        return Splits(pairs, 1, parts, self.scored)


def make_splits(
    y: np.ndarray,
    folds: int | None = None,
    repeats: int | None = None,
    loocv: bool = False,
    random_state: int = 0,
    classes: list | None = None,
    groups: np.ndarray | None = None,
) -> Splits:
    """Repeated stratified k-fold, k up to 10 (at most the smallest class), or leave-one-out.

    With `groups` (one value per item: a patient, a speaker), the folds are stratified
    group folds: a group's items are all in one test part, never on both sides, and k is
    at most the fewest groups a class has; leave-one-out leaves one group out.

    A class with a single example (with groups: a single group) cannot be both trained on
    and tested; such items stay in every training part and are not scored (with a
    warning naming them, by `classes`).
    """
    if groups is not None:
        groups = np.asarray(groups, dtype=object)
        counts = np.array([np.unique(groups[y == c]).size for c in range(y.max() + 1)])
        unit = "group"
    else:
        counts, unit = np.bincount(y), "example"
    singles = np.flatnonzero(counts == 1)
    scored = ~np.isin(y, singles)
    if singles.size:
        named = f" ({', '.join(str(classes[s]) for s in singles)})" if classes else ""
        warnings.warn(
            f"{singles.size} class(es){named} have a single {unit}; they are always trained "
            "on and never scored, so the estimate covers the other classes only.",
            stacklevel=2,
        )
    index = np.flatnonzero(scored)
    if index.size == 0 or np.unique(y[index]).size < 2:
        raise SmallfitError(
            "Too few examples to estimate accuracy: need at least two classes with two or "
            "more examples each."
        )
    always_train = np.flatnonzero(~scored)
    if loocv:
        units = np.arange(index.size) if groups is None else groups[index]
        pairs = [
            (np.concatenate([index[tr], always_train]), index[te])
            for tr, te in LeaveOneGroupOut().split(index, groups=units)
        ]
        return Splits(pairs, 1, len(pairs), scored)
    smallest = int(counts[counts > 1].min())
    fits = REFERENCE_FOLDS * min(MAX_REPEATS, math.ceil(TARGET_PREDICTIONS / index.size))
    k = folds or min(MAX_FOLDS, smallest, max(REFERENCE_FOLDS, fits))
    if k < 2 or k > smallest:
        raise SmallfitError(
            f"Cannot make {k} stratified folds: the smallest class has {smallest} {unit}s."
        )
    if repeats is None:
        repeats = max(1, min(MAX_REPEATS, fits // k))
    if groups is None:
        splitter = RepeatedStratifiedKFold(n_splits=k, n_repeats=repeats, random_state=random_state)
        parts = list(splitter.split(index, y[index]))
    else:  # scikit-learn has no repeated group splitter: reshuffle the groups per repeat
        parts = [
            part
            for r in range(repeats)
            for part in StratifiedGroupKFold(
                n_splits=k, shuffle=True, random_state=random_state + r
            ).split(index, y[index], groups[index])
        ]
    pairs = [(np.concatenate([index[tr], always_train]), index[te]) for tr, te in parts]
    return Splits(pairs, repeats, k, scored)


def out_of_fold(
    strategy,
    dataset: Dataset,
    encoder,
    splits: Splits,
    description: str = "Cross-validating",
    budget: Budget = UNLIMITED,
    fit_params: dict | None = None,
    on_fold=None,
) -> np.ndarray:
    """Probabilities (repeats, n, n_classes) for every scored item, NaN elsewhere.

    Within a limited `budget`, stop with OutOfTime as soon as the folds done so far
    project that the rest, plus about one fold's worth for refitting on all the data,
    would not finish in it; the budget is active inside each fold's fit, so a training
    run stops at its first epoch past the deadline. `fit_params` go to each fold's fit
    (those the strategy accepts); they hold no labels (unlabeled pools), so every fold
    may use them.
    `on_fold(number, probas)` runs after each fold (a search reports running scores and
    may stop a poor candidate early by raising).
    """
    params = accepted_fit_params(strategy, fit_params)
    n, n_classes = len(dataset), len(dataset.classes)
    probas = np.full((splits.repeats, n, n_classes), np.nan)
    per_repeat = len(splits.pairs) // splits.repeats
    started = time.monotonic()
    with progress_bar(len(splits.pairs), description) as advance, budget.active():
        for number, (train, test) in enumerate(splits.pairs):
            per_fold = (time.monotonic() - started) / number if number else 0.0
            if per_fold * (len(splits.pairs) - number + 1) > budget.left():
                raise OutOfTime(f"stopped after {number} of {len(splits.pairs)} folds")
            model = clone(strategy).fit(dataset.subset(train), encoder, **params)
            probas[number // per_repeat, test] = model.predict_proba(dataset.subset(test).items)
            advance()
            if on_fold is not None:
                on_fold(number, probas)
    return probas
