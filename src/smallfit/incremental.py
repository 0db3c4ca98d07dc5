"""Incremental update: teach a fitted model new labels (and new classes) without forgetting.

The model's stored reference sample of its training data is rehearsed: the head is
trained on the stored exemplar embeddings plus the new labeled data. That needs a
strategy that learns from frozen embeddings alone (probe, prototype); its head is a
convex problem (logistic regression) or a mean (prototypes), so continuing from the old
weights with a small step would reach the same solution as training on the same rows
again, which is what is done here (and the regularisation is chosen again). While a fit
stores its whole training set (up to reference.MAX_ROWS items), the update equals a fit
on the old and new data together, so nothing is forgotten that a joint fit would keep.

Accuracy before and after, honestly: old data before is the original fit's out-of-fold
accuracy on the exemplars; new data before is the old model on the new items (which it
never saw; items of new classes count as errors); after, on both, is cross-validation of
the whole update over exemplars and new items.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from smallfit.data import Dataset
from smallfit.errors import SmallfitError
from smallfit.evaluate import accuracy_interval, evaluate_probas, make_splits, out_of_fold
from smallfit.modalities.reading import to_dataset
from smallfit.model import Model, load
from smallfit.reference import (
    make_reference,
    reference_encoder,
    require_reference,
    stratified_rows,
)
from smallfit.version import library_versions


class StoredEmbeddings:
    """An encoder whose items are row numbers of a table of embeddings computed earlier.

    Lets a frozen-embedding strategy train on exemplars whose original items are not kept.
    It offers `embed` only (no capabilities); `modality` None: rows of any kind of item.
    """

    capabilities: frozenset[str] = frozenset()

    def __init__(self, table: np.ndarray, name: str, modality: str | None = None):
        self.table = table
        self.name = name
        self.modality = modality
        self.dim = table.shape[1]

    def embed(self, items, *, description: str | None = None) -> np.ndarray:
        return self.table[np.asarray(items, dtype=np.int64)]


def update(
    model: Model | str | Path,
    data: Any,
    labels: Any = None,
    *,
    seed: int = 0,
    folds: int | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    skip_bad: bool = False,
) -> Model:
    """A new Model trained on the stored exemplars of `model`'s training data plus the new
    labeled `data` (a folder, a table, a Dataset, or items with `labels`); new classes are
    added after the old ones. The old model is not changed."""
    started = time.perf_counter()
    model = model if isinstance(model, Model) else load(model)
    reference = require_reference(model, "an update")
    if not type(model.strategy).embedding_only:
        raise SmallfitError(
            f"A {model.strategy.name} model cannot be updated: only models that learn from "
            "frozen embeddings (probe, prototype) can. Fit a new model on the old and new "
            "data together with `smallfit fit`."
        )
    if reference.encoder["name"] != model.backbone:
        raise SmallfitError(
            f"The model's reference sample was embedded by {reference.encoder['name']}, not by "
            f"its backbone {model.backbone}; fit the model again to update it."
        )
    new = to_dataset(
        data,
        labels,
        labeled=True,
        text_column=text_column,
        label_column=label_column,
        skip_bad=skip_bad,
    )
    if new.modality != model.modality:
        raise SmallfitError(
            f"This model classifies {model.modality}s but {new.source} holds {new.modality}s."
        )
    classes, new_y = merge_classes(model.classes, new.labels)
    encoder = reference_encoder(reference)
    table = np.vstack(
        [
            reference.embeddings.astype(np.float32),
            encoder.embed(new.items, description=f"Embedding {new.source}"),
        ]
    )
    y = np.concatenate([reference.labels, new_y])
    is_new = np.arange(len(y)) >= len(reference)
    rows = Dataset(
        items=list(range(len(y))),
        modality=model.modality,
        labels=np.array(classes, dtype=object)[y],
        classes=classes,
        names=[f"exemplar {i}" for i in range(len(reference))] + new.names,
        source=f"{len(reference)} stored exemplars and {new.source}",
    )
    stored = StoredEmbeddings(table, encoder.name, model.modality)
    strategy = clone(model.strategy)
    if "random_state" in strategy.get_params():
        strategy.set_params(random_state=seed)
    splits = make_splits(y, folds=folds, random_state=seed)
    probas = out_of_fold(strategy, rows, stored, splits, description="Cross-validating the update")
    arrays, config = clone(strategy).fit(rows, stored).get_state()
    updated = clone(strategy).set_state(arrays, config, encoder)
    updated.classes_ = classes

    metrics = evaluate_probas(y, probas, classes, random_state=seed)
    metrics["kind"] = "cross-validation"
    known = reference.predicted >= 0  # exemplars with an out-of-fold prediction
    old_predicted = model.predict_proba(new).argmax(axis=1)  # indices of the old classes
    keep = stratified_rows(y, seed=seed)
    info = {
        "candidates": [],
        "metrics": metrics,
        "settings": {"seed": seed, "folds": splits.folds, "repeats": splits.repeats},
        # rows' items are indices into stored embeddings, so their own hash would say
        # nothing: the fingerprint is that of the lineage, the old data then the new
        "data": rows.record(lineage_fingerprint(model.info.get("data", {}), new)),
        "update": {
            "previous": {"data": model.info.get("data"), "classes": model.classes},
            "new_data": {
                "source": new.source,
                "n_items": len(new),
                "fingerprint": new.fingerprint(),
            },
            "exemplars": len(reference),
            "new_classes": [str(c) for c in classes[len(model.classes) :]],
            "accuracy": {
                "old_data": {
                    "before": _accuracy(reference.labels[known], reference.predicted[known], seed),
                    "after": _out_of_fold_accuracy(y[~is_new], probas[:, ~is_new], seed),
                },
                "new_data": {
                    "before": _accuracy(new_y, old_predicted, seed),
                    "after": _out_of_fold_accuracy(y[is_new], probas[:, is_new], seed),
                },
            },
        },
        "versions": library_versions(),
        "fit_seconds": round(time.perf_counter() - started, 2),
    }
    successor = make_reference(table[keep], y[keep], probas[:, keep], reference.encoder, len(rows))
    return Model(updated, model.backbone, model.modality, classes, info, successor)


def lineage_fingerprint(previous_data: dict, new: Dataset) -> str:
    """A short hash of the previous model's data fingerprint followed by the new data's."""
    chain = f"{previous_data.get('fingerprint', 'unknown')}+{new.fingerprint()}"
    return hashlib.sha256(chain.encode()).hexdigest()[:16]


def merge_classes(old: list, labels: np.ndarray) -> tuple[list, np.ndarray]:
    """The old classes followed by the labels' new ones (sorted), and the labels as indices.

    Labels match old classes by their text, so 3 and "3" are one class (as in evaluate).
    """
    by_text = {str(c): i for i, c in enumerate(old)}
    added = sorted({str(v) for v in labels} - set(by_text))
    originals = {str(v): v for v in labels}
    classes = list(old) + [originals[text] for text in added]
    by_text |= {text: len(old) + i for i, text in enumerate(added)}
    return classes, np.array([by_text[str(v)] for v in labels], dtype=np.int64)


def _accuracy(y: np.ndarray, predicted: np.ndarray, seed: int) -> dict | None:
    """Accuracy of predicted class indices with its 95% interval (None for no rows)."""
    if len(y) == 0:
        return None
    one_hot = np.eye(int(max(y.max(), predicted.max())) + 1)[predicted]
    return accuracy_interval(y, one_hot, random_state=seed)


def _out_of_fold_accuracy(y: np.ndarray, probas: np.ndarray, seed: int) -> dict | None:
    """Out-of-fold accuracy with its 95% interval over the scored rows (None if none)."""
    if np.isnan(probas[0, :, 0]).all():
        return None
    return accuracy_interval(y, probas, random_state=seed)
