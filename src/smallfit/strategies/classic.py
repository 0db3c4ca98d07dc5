"""`classic`: the no-transfer baseline every result is compared with.

Logistic regression on the items' own features, which their modality defines
(Modality.raw_features): for texts TF-IDF of word 1-2-grams and character 2-5-grams
(on raw e-mails and jargon this often beats frozen sentence embeddings), for images
downscaled raw pixels. If transfer does not beat this, `fit` keeps it.
"""

from __future__ import annotations

import numpy as np

from smallfit import modalities
from smallfit.strategies.base import Strategy
from smallfit.strategies.constraints import Between, OneOf
from smallfit.strategies.heads import LogisticHead
from smallfit.strategies.registry import register


@register
class Classic(Strategy):
    """Logistic regression on the items' own features (TF-IDF for texts, pixels for images)."""

    name = "classic"
    search_space = {"class_weight": ["balanced", None]}
    uses_encoder = False
    reads_items = True

    constraints = {
        "class_weight": [OneOf(("balanced",)), None],
        "random_state": [Between(integer=True)],
    }

    def __init__(self, class_weight: str | None = "balanced", random_state: int = 0):
        self.class_weight = class_weight
        self.random_state = random_state

    def fit(self, dataset, encoder) -> Classic:
        self._remember(dataset, encoder)
        self.modality_ = dataset.modality
        self.raw_ = modalities.get(self.modality_).raw_features()
        own = self.raw_.fit_transform(dataset.items)
        self.head_ = self._head()
        self.head_.fit(self._joined(own, dataset.items), dataset.y, len(dataset.classes))
        return self

    def _head(self) -> LogisticHead:
        return LogisticHead(
            self.class_weight, self.random_state, scale=self.raw_.scale, max_rank=self.raw_.max_rank
        )

    def _features(self, items):
        return self._joined(self.raw_.transform(items), items)

    def _joined(self, own, items):
        """The head's features from the items' own (`hybrid` adds the embeddings)."""
        return own

    def predict_proba(self, items) -> np.ndarray:
        return self.head_.predict_proba(self._features(items))

    def as_sklearn(self):
        return self.raw_, self.head_.as_sklearn()

    def get_state(self):
        arrays, config = self.head_.get_state()
        raw_arrays, raw_config = self.raw_.get_state()
        return arrays | raw_arrays, config | raw_config | {"modality": self.modality_}

    def set_state(self, arrays, config, encoder) -> Classic:
        self.encoder_ = encoder
        self.modality_ = config["modality"]
        self.raw_ = modalities.get(self.modality_).raw_features().set_state(arrays, config)
        self.head_ = self._head()
        self.head_.set_state(arrays, config)
        return self
