"""Permutation importance per column, measured honestly: never on rows the model saw.

For each of a few cross-validation folds (the fit's own splits, first repeat, in five
parts at most), the chosen strategy is fitted on the fold's training rows; on its
held-out rows, one column's values are shuffled among the rows (the whole column: a text
or a date moves as one value) and
the drop in accuracy is measured, a few seeded shuffles per column. A column the model
leans on drops the accuracy; a useless one leaves it, give or take noise (the spread).
Any kind of item whose modality names columns gets it (modalities.Modality.columns).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.base import clone

from smallfit import modalities
from smallfit.budget import UNLIMITED, Budget
from smallfit.data import Dataset
from smallfit.evaluate.cv import Splits
from smallfit.progress import progress_bar
from smallfit.strategies.base import accepted_fit_params

MAX_FOLDS = 5
SHUFFLES = 3  # per column and fold
MAX_SECONDS = 120.0  # projected cost past which it is skipped, with a note


def permutation_importance(
    strategy,
    dataset: Dataset,
    encoder,
    splits: Splits,
    *,
    seed: int = 0,
    fit_seconds: float | None = None,
    budget: Budget = UNLIMITED,
    fit_params: dict | None = None,
) -> dict[str, Any] | None:
    """{"columns": [{"column", "drop", "spread"}, ...] (largest drop first), "folds",
    "rows" (held out, in all), "shuffles", "baseline"}, or {"skipped": why}; None when
    the items have no columns. `strategy` may be fitted (it is cloned for each fold).

    `fit_seconds` (one fit on a fold's rows, if known) projects the cost: past
    MAX_SECONDS or the `budget`'s time left, it is skipped and says so. The same `seed`
    gives the same numbers.
    """
    kind = modalities.get(dataset.modality)
    columns = kind.columns(dataset)
    if not columns:
        return None
    if type(strategy).trains_body or any(
        type(m).trains_body for m in getattr(strategy, "members_", [])
    ):
        return {"skipped": "the chosen model trains a network body (minutes a fold)"}
    pairs = splits.coarse(MAX_FOLDS).pairs
    limit = min(MAX_SECONDS, budget.left())
    if fit_seconds is not None and fit_seconds * len(pairs) > limit:
        return {"skipped": _too_long(fit_seconds * len(pairs))}
    params = accepted_fit_params(strategy, fit_params)
    rng = np.random.default_rng(seed)
    drops = np.zeros((len(columns), len(pairs), SHUFFLES))
    baseline = []
    started = time.monotonic()
    with progress_bar(len(pairs), "Measuring column importance") as advance:
        for fold, (train, test) in enumerate(pairs):
            spent = time.monotonic() - started
            if fold and spent / fold * len(pairs) > limit:
                return {"skipped": _too_long(spent / fold * len(pairs))}
            model = clone(strategy).fit(dataset.subset(train), encoder, **params)
            held = dataset.subset(test)
            accuracy = _accuracy(model, held.items, held.y)
            baseline.append(accuracy)
            for c, column in enumerate(columns):
                for s in range(SHUFFLES):
                    shuffled = kind.shuffle_column(held.items, column, rng.permutation(len(held)))
                    drops[c, fold, s] = accuracy - _accuracy(model, shuffled, held.y)
            advance()
    flat = drops.reshape(len(columns), -1)
    entries = [
        {
            "column": column,
            "drop": round(float(flat[c].mean()), 4),
            "spread": round(float(flat[c].std()), 4),
        }
        for c, column in enumerate(columns)
    ]
    entries.sort(key=lambda e: -e["drop"])
    return {
        "columns": entries,
        "folds": len(pairs),
        "rows": int(sum(len(test) for _, test in pairs)),
        "shuffles": SHUFFLES,
        "baseline": round(float(np.mean(baseline)), 4),
        "seconds": round(time.monotonic() - started, 2),
    }


def _accuracy(model, items: list, y: np.ndarray) -> float:
    return float((model.predict_proba(items).argmax(axis=1) == y).mean())


def _too_long(seconds: float) -> str:
    return f"it would take about {seconds:.0f} s (at most {MAX_SECONDS:.0f} s, or the time left)"
