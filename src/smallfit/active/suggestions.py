"""`suggest`: the pool items most worth labeling next, as a table to fill in. It reads
the pool (pool.py), gathers what the chosen query strategy needs (the model's
probabilities or a committee's) and lets the strategy pick (queries.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from smallfit import modalities
from smallfit.active.committee import model_committee
from smallfit.active.pool import cold_pool, model_pool
from smallfit.active.queries import QUERIES, Candidates
from smallfit.errors import SmallfitError
from smallfit.model import Model, load
from smallfit.numeric import normalise
from smallfit.reference import require_reference

COLUMNS = ["item", "rank", "score", "strategy", "reason", "label"]


def suggest(
    model: Model | str | Path | None,
    pool: Any,
    n: int = 20,
    *,
    strategy: str | None = None,
    seed: int = 0,
    backbone: str | None = None,
    text_column: str | None = None,
    skip_bad: bool = False,
) -> pd.DataFrame:
    """The `n` pool items most worth labeling next, best first, as a DataFrame with
    columns item, rank, score, strategy, reason and an empty label column to fill in.

    `model` None is a cold start (no labels yet): only strategies that need no model
    (typiclust, the default; kcenter; random), on `backbone`'s embeddings. With a model
    (default strategy hybrid), pool items that are in its training data are left out.
    """
    if model is None and strategy is None:
        strategy = "typiclust"
    strategy = strategy or "hybrid"
    if strategy not in QUERIES:
        raise SmallfitError(f"Unknown strategy {strategy!r}. Known: {', '.join(QUERIES)}.")
    chosen = QUERIES[strategy]
    if not isinstance(n, int | np.integer) or n < 1:
        raise SmallfitError(f"-n must be a positive number of items, not {n}.")
    if model is None:
        if chosen.needs:
            cold = ", ".join(name for name, q in QUERIES.items() if not q.needs)
            raise SmallfitError(
                f"--strategy {strategy} needs a model's predictions; a cold start (no model) "
                f"can use {cold}."
            )
        dataset, embeddings = cold_pool(pool, n, backbone, text_column, skip_bad)
        labeled, classes, proba, members = np.zeros((0, embeddings.shape[1])), [], None, None
    else:
        model = model if isinstance(model, Model) else load(model)
        reference = require_reference(model, "suggesting what to label")
        dataset, embeddings = model_pool(model, reference, pool, n, text_column, skip_bad)
        labeled, classes = normalise(reference.embeddings.astype(np.float32)), model.classes
        proba = model.predict_proba(dataset) if chosen.needs == "proba" else None
        members = (
            model_committee(model, reference, embeddings, seed)
            if chosen.needs == "committee"
            else None
        )
    picks = chosen.select(
        Candidates(normalise(embeddings), labeled, classes, proba, members, seed), n
    )
    kind = modalities.get(dataset.modality)
    written = [kind.written(dataset.items[i], dataset.names[i]) for i in picks.rows]
    return pd.DataFrame(
        {
            "item": written,
            "rank": np.arange(1, len(picks.rows) + 1),
            "score": np.round(picks.scores.astype(float), 6),
            "strategy": strategy,
            "reason": picks.reasons,
            "label": "",
        },
        columns=COLUMNS,
    )
