"""Semi-supervised learning from an unlabeled pool: self-training around any strategy.

`self-training` wraps a base strategy. On the labeled part it gives (inside
cross-validation: the fold's training part, never its held-out labels) it

1. estimates how far pseudo-labels can be trusted: an inner out-of-fold pass over the
   labeled items, which the pseudo-labeler treats exactly like pool items, and the
   confidence threshold is the lowest at which the out-of-fold precision of the items
   at or above it reaches `precision` (no such threshold: no pseudo-labels);
2. for `rounds` rounds: labels the pool, keeps the pool items whose confidence reaches
   the threshold, at most `balance` times as many per class as the class with the
   fewest such items (so that easy classes do not crowd out hard ones, which feeds confirmation
   bias), and refits the base strategy on the labeled plus the kept pseudo-labeled items.

The pseudo-labeler is, by default, label spreading (Zhou et al. 2004; scikit-learn's
`LabelSpreading`, kNN graph) over the normalised embeddings of the labeled items and
the pool (for a base without an encoder, such as a forest on a table's columns: their
own dense features, fitted on the labeled items): with very few labels a classifier's
own confident mistakes repeat themselves, while the pool's neighbourhood structure
carries labels along the data manifold.
`labeler="base"` uses the base strategy's own predictions (classic self-training; the
only choice for strategies without an embedding, such as TF-IDF). From the second round
on, the labeler also sees the previous round's pseudo-labels as labeled points.

The fitted model is the final base strategy: it saves, loads, predicts and exports as
that strategy does. FixMatch consistency for fine-tuning lives in train.consistency.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold
from sklearn.semi_supervised import LabelSpreading

from smallfit import modalities
from smallfit.data import Dataset
from smallfit.errors import SmallfitError
from smallfit.numeric import normalise
from smallfit.strategies.base import Strategy
from smallfit.strategies.constraints import Between, Kind, OneOf, check_params
from smallfit.strategies.registry import create, register

LABELERS = ("spreading", "base")


def confidence_threshold(confidence: np.ndarray, correct: np.ndarray, precision: float) -> float:
    """The lowest confidence t such that the items with confidence >= t are right at least
    a `precision` share of the time (inf when no t achieves it)."""
    order = np.argsort(-confidence, kind="stable")
    hits = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    # a cut between equal confidences is not a threshold: only the last of a tie counts
    last_of_tie = np.append(confidence[order][1:] < confidence[order][:-1], True)
    good = np.flatnonzero((hits >= precision) & last_of_tie)
    return float(confidence[order][good.max()]) if good.size else float("inf")


def balanced_selection(
    proba: np.ndarray, threshold: float, balance: float
) -> tuple[np.ndarray, np.ndarray]:
    """(pool indices, pseudo-labels) of the items whose confidence reaches `threshold`,
    the most confident first, at most `balance` x the count of the class with the fewest
    per class (among the classes with any)."""
    confidence, label = proba.max(axis=1), proba.argmax(axis=1)
    confident = np.flatnonzero(confidence >= threshold)
    if not confident.size:
        return confident, confident
    counts = np.bincount(label[confident], minlength=proba.shape[1])
    cap = int(np.ceil(balance * counts[counts > 0].min()))
    keep = []
    for c in np.unique(label[confident]):
        members = confident[label[confident] == c]
        keep.append(members[np.argsort(-confidence[members], kind="stable")][:cap])
    chosen = np.sort(np.concatenate(keep))
    return chosen, label[chosen]


@register
class SelfTraining(Strategy):
    """Self-training of `base` (a strategy name, with `base_params`) on an unlabeled pool
    given to `fit` as `unlabeled`; without a pool it is the base strategy alone."""

    name = "self-training"

    constraints = {
        "base": [Kind(str)],
        "base_params": [Kind(dict), None],
        "labeler": [OneOf(LABELERS)],
        "precision": [Between(0)],  # above 1: no threshold is trusted, no pseudo-labels
        "balance": [Between(1)],
        "rounds": [Between(1, integer=True)],
        "neighbors": [Between(1, integer=True)],
        "random_state": [Between(integer=True)],
    }

    def __init__(
        self,
        base: str = "probe",
        base_params: dict | None = None,
        labeler: str = "spreading",
        precision: float = 0.9,
        balance: float = 2.0,
        rounds: int = 2,
        neighbors: int = 10,
        random_state: int = 0,
    ):
        self.base = base
        self.base_params = base_params
        self.labeler = labeler
        self.precision = precision
        self.balance = balance
        self.rounds = rounds
        self.neighbors = neighbors
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------------
    def _new_base(self) -> Strategy:
        strategy = create(self.base, **(self.base_params or {}))
        if "random_state" in strategy.get_params():
            strategy.set_params(random_state=self.random_state)
        return strategy

    def _remember(self, dataset: Dataset, encoder) -> None:
        """Self-training runs wherever its base does: the base checks the data and encoder."""
        check_params(self.name, self.get_params(deep=False), type(self).constraints)
        self._new_base()._remember(dataset, encoder)
        self.classes_ = list(dataset.classes)
        self.encoder_ = encoder

    def fit(self, dataset: Dataset, encoder, unlabeled: Dataset | None = None) -> SelfTraining:
        self._remember(dataset, encoder)
        pool = list(unlabeled.items) if unlabeled is not None else []
        self.threshold_ = self._threshold(dataset, encoder, pool) if pool else float("inf")
        self.base_ = self._new_base().fit(dataset, encoder)
        self.pseudo_counts_: list[int] = []
        chosen, pseudo = np.zeros(0, np.int64), np.zeros(0, np.int64)
        for _ in range(self.rounds if np.isfinite(self.threshold_) else 0):
            proba = self._label(dataset, encoder, pool, chosen, pseudo)
            chosen, pseudo = balanced_selection(proba, self.threshold_, self.balance)
            self.pseudo_counts_.append(len(chosen))
            if not len(chosen):
                break
            self.base_ = self._new_base().fit(
                with_pseudo_labels(dataset, pool, chosen, pseudo), encoder
            )
        self.pseudo_labeled_ = (chosen, pseudo)
        return self

    def _threshold(self, dataset: Dataset, encoder, pool: list) -> float:
        """Confidence threshold from an inner out-of-fold pass over the labeled items."""
        y = dataset.y
        counts = np.bincount(y)
        smallest = counts[counts > 0].min()
        if smallest < 2:
            return float("inf")  # no out-of-fold estimate, so no pseudo-labels
        folds = StratifiedKFold(min(5, smallest), shuffle=True, random_state=self.random_state)
        proba = np.zeros((len(dataset), len(dataset.classes)))
        for train, test in folds.split(np.zeros(len(y)), y):
            part = dataset.subset(train)
            held_out = [dataset.items[i] for i in test]
            proba[test] = self._label(part, encoder, held_out + pool)[: len(test)]
        return confidence_threshold(proba.max(axis=1), proba.argmax(axis=1) == y, self.precision)

    def _label(
        self,
        dataset: Dataset,
        encoder,
        pool: list,
        chosen: np.ndarray | None = None,
        pseudo: np.ndarray | None = None,
    ) -> np.ndarray:
        """Pseudo-label probabilities (len(pool), n_classes), learning from `dataset` and
        the earlier pseudo-labels (`chosen` pool items labeled `pseudo`)."""
        if chosen is not None and len(chosen):
            dataset = with_pseudo_labels(dataset, pool, chosen, pseudo)
        if self.labeler == "base":
            return self._new_base().fit(dataset, encoder).predict_proba(pool)
        features = normalise(self._vectors(dataset, encoder, pool))
        known = np.concatenate([dataset.y, np.full(len(pool), -1)])
        spreading = LabelSpreading(
            kernel="knn", n_neighbors=min(self.neighbors, len(features) - 1), max_iter=100
        )
        spreading.fit(features, known)
        # spreading's columns are the classes present in `dataset`, in increasing order
        proba = np.zeros((len(pool), len(dataset.classes)))
        proba[:, spreading.classes_[spreading.classes_ >= 0]] = spreading.label_distributions_[
            len(dataset) :
        ]
        return np.nan_to_num(proba)

    def _vectors(self, dataset: Dataset, encoder, pool: list) -> np.ndarray:
        """The labeled items' and the pool's vectors for label spreading: the encoder's
        embeddings, or without one the items' own dense features fitted on `dataset`."""
        items = list(dataset.items) + pool
        if encoder is not None and hasattr(encoder, "embed"):
            return encoder.embed(items)
        own = modalities.get(dataset.modality).raw_features()
        if own is None or not own.dense:
            raise SmallfitError(
                f"labeler='spreading' needs an encoder's embeddings or dense own features; "
                f"{self.base} has no encoder here and {dataset.modality} items no dense "
                "features of their own: use labeler='base'."
            )
        return own.fit(dataset.items).transform(items)

    # -- the fitted base strategy ----------------------------------------------------
    def predict_proba(self, items: list[Any]) -> np.ndarray:
        return self.base_.predict_proba(items)

    def inference_module(self):
        return self.base_.inference_module()

    def encoders(self) -> list:
        return self.base_.encoders()

    def get_state(self):
        return self.base_.get_state()

    def set_state(self, arrays, config, encoder) -> SelfTraining:
        self.encoder_ = encoder
        self.base_ = self._new_base().set_state(arrays, config, encoder)
        return self


def with_pseudo_labels(
    dataset: Dataset, pool: list, chosen: np.ndarray, pseudo: np.ndarray
) -> Dataset:
    """`dataset` plus the `chosen` pool items, labeled with the classes `pseudo` indexes."""
    classes = np.empty(len(dataset.classes), dtype=object)
    classes[:] = dataset.classes
    return Dataset(
        items=list(dataset.items) + [pool[i] for i in chosen],
        modality=dataset.modality,
        labels=np.concatenate([dataset.labels, classes[pseudo]]),
        classes=list(dataset.classes),
        names=list(dataset.names) + [f"pool item {i} (pseudo-labeled)" for i in chosen],
        source=f"{dataset.source} and {len(chosen)} pseudo-labeled pool items",
    )
