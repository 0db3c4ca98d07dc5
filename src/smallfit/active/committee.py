"""The committee for query by committee: a model refit on each cross-validation fold of
the labels, each member predicting the pool; their disagreement ranks the pool."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import clone

from smallfit.data import Dataset
from smallfit.errors import SmallfitError
from smallfit.model import Model
from smallfit.reference import Reference


def fold_committee(
    fit_predict: Callable[[np.ndarray], np.ndarray], y: np.ndarray, seed: int = 0
) -> np.ndarray:
    """(folds, n_pool, n_classes): `fit_predict(train_rows)` — fit on those labeled rows,
    predict the pool — on each part of one stratified k-fold split of the labels `y`."""
    from smallfit.evaluate import make_splits

    splits = make_splits(y, repeats=1, random_state=seed)
    return np.stack([fit_predict(train) for train, _ in splits.pairs])


def model_committee(model: Model, reference: Reference, pool: np.ndarray, seed: int) -> np.ndarray:
    """The model's strategy refit on each cross-validation fold of its stored reference
    embeddings, predicting the pool embeddings `pool` (same encoder, float32)."""
    from smallfit.incremental import StoredEmbeddings

    if not type(model.strategy).embedding_only:
        raise SmallfitError(
            f"--strategy committee refits the model on its stored embeddings, which a "
            f"{model.strategy.name} model cannot do (only probe and prototype models can). "
            "Use margin, entropy, least-confidence, hybrid or kcenter."
        )
    if reference.encoder["name"] != model.backbone:
        raise SmallfitError(
            f"The model's reference sample was embedded by {reference.encoder['name']}, not by "
            f"its backbone {model.backbone}, so no committee can be refit on it."
        )
    table = np.vstack([reference.embeddings.astype(np.float32), pool])
    stored = StoredEmbeddings(table, model.backbone, model.modality)
    rows = Dataset(
        items=list(range(len(reference))),
        modality=model.modality,
        labels=np.array(model.classes, dtype=object)[reference.labels],
        classes=model.classes,
    )
    pool_rows = list(range(len(reference), len(table)))

    def fit_predict(train: np.ndarray) -> np.ndarray:
        return clone(model.strategy).fit(rows.subset(train), stored).predict_proba(pool_rows)

    return fold_committee(fit_predict, reference.labels, seed)
