"""What the data doctor checks of a table beyond its features' geometry: which rows are
copies (equal in every used column: an id left out does not make a row new), and
columns that alone predict the label (likely leaks).

A column is a likely leak when a tiny model on it alone (a decision tree of depth
`TREE_DEPTH`) is (almost) always right, cross-validated (wrong on at most `MAX_WRONG` of
the rows, or on one row in a table of fewer than 100), while the same model on every
other column together is not: when the other columns separate the classes just as well,
a perfect column is no evidence of a leak, only of an easy task. So two columns that
each give the label away hide each other. Free-text columns are never reported (they
still count among the others): a tree on a text's embedding is no rule a person reads,
and a description that names the item's class is the signal a table's text column is
there for, not a value known only after the label. Copies labeled differently are left out: no
column predicts both, and they are reported as conflicting copies; so are classes of a
single row, which cannot be cross-validated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smallfit.data import Dataset
from smallfit.modalities.base import LonePredictor
from smallfit.modalities.columns import USED_TYPES, Row
from smallfit.modalities.table_features import TableFeatures

MAX_WRONG = 0.01  # the share of rows a column predicting the label may get wrong
TREE_DEPTH = 4  # up to 16 value ranges or categories: a rule a person reads at a glance
FOLDS = 5


def used_columns(row: Row) -> dict[str, str]:
    """The columns a model learns from (column -> type), in the table's order."""
    return {c: k for c, k in row.types.items() if k in USED_TYPES}


def used_values(row: Row) -> dict[str, Any]:
    """The row's values in the used columns: what makes two rows copies of each other."""
    return {c: row.get(c) for c in used_columns(row)}


def conflicting(dataset: Dataset) -> np.ndarray:
    """Which rows have an identical copy (in the used columns) labeled differently: no
    column can predict both, and they are reported as conflicting copies of their own."""
    from smallfit.data.identity import item_key

    labels: dict[str, set] = {}
    keys = [item_key(used_values(row)) for row in dataset.items]
    for key, label in zip(keys, dataset.y, strict=True):
        labels.setdefault(key, set()).add(int(label))
    return np.array([len(labels[key]) > 1 for key in keys], dtype=bool)


def column_features(rows: list[Row]) -> dict[str, np.ndarray]:
    """Each used column's own features (as TableFeatures makes them, fitted on that
    column alone: no labels are read, so fitting on every row leaks nothing)."""
    blocks = {}
    for column, kind in used_columns(rows[0]).items():
        alone = [Row(row, {column: kind}) for row in rows]
        blocks[column] = TableFeatures().fit(alone).transform(alone)
    return blocks


def tree_accuracy(features: np.ndarray, y: np.ndarray, seed: int) -> float:
    """Cross-validated accuracy of a depth-limited decision tree (stratified folds)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.tree import DecisionTreeClassifier

    if features.shape[1] == 0:
        return float(np.bincount(y).max() / len(y))  # nothing to learn from: the majority
    folds = StratifiedKFold(min(FOLDS, int(np.bincount(y).min())), shuffle=True, random_state=seed)
    tree = DecisionTreeClassifier(max_depth=TREE_DEPTH, random_state=seed)
    return float((cross_val_predict(tree, features, y, cv=folds) == y).mean())


def lone_columns(dataset: Dataset, seed: int = 0) -> tuple[list[LonePredictor], str]:
    """Columns that alone predict the label while the others together do not (see the
    module docstring), most accurate first; and how they were judged."""
    keep = ~conflicting(dataset)
    keep &= np.bincount(dataset.y[keep], minlength=len(dataset.classes))[dataset.y] >= 2
    present = np.unique(dataset.y[keep])
    if present.size < 2:
        return [], "skipped: fewer than two classes of two rows or more to cross-validate"
    rows = [row for row, kept in zip(dataset.items, keep, strict=True) if kept]
    y = np.searchsorted(present, dataset.y[keep])  # classes 0..K-1
    perfect = 1.0 - max(1, int(MAX_WRONG * len(y))) / len(y)
    blocks = column_features(rows)
    types = used_columns(rows[0])
    found = []
    for column, features in blocks.items():
        if types[column] == "text":
            continue
        alone = tree_accuracy(features, y, seed)
        if alone < perfect:
            continue
        rest = [block for other, block in blocks.items() if other != column]
        others = tree_accuracy(np.hstack(rest) if rest else np.empty((len(y), 0)), y, seed)
        if others < perfect:
            found.append(LonePredictor(column, alone, others))
    note = (
        f"a decision tree of depth {TREE_DEPTH} on one column, cross-validated, right on at "
        f"least {perfect:.1%} of the rows (at most {MAX_WRONG:.0%} or one wrong) while the "
        "same tree on the other columns together is not; copies labeled differently left out"
    )
    return sorted(found, key=lambda p: -p.accuracy), note
