"""`prototype`: nearest class centroid in cosine geometry (prototypical classification).

With 1-5 examples per class a centroid is about all the data can support, and it
needs no hyper-parameters fitted on those few examples.
"""

from __future__ import annotations

import numpy as np

from smallfit.adapt.coral import training_features
from smallfit.numeric import normalise, softmax
from smallfit.strategies.base import Strategy, frozen_encoder_module
from smallfit.strategies.constraints import Between
from smallfit.strategies.heads import ProbabilityHead
from smallfit.strategies.registry import register


@register
class Prototype(Strategy):
    """Each class is the normalised mean of its normalised embeddings; scores are cosines.

    `scale` turns cosines into probabilities: softmax(scale * cos).
    """

    name = "prototype"
    embedding_only = True

    constraints = {"scale": [Between(0, above=True)]}

    def __init__(self, scale: float = 20.0):
        self.scale = scale

    def fit(self, dataset, encoder, target_unlabeled=None) -> Prototype:
        self._remember(dataset, encoder)
        features, y = training_features(dataset.items, encoder, target_unlabeled), dataset.y
        centroids = np.zeros((len(dataset.classes), features.shape[1]), dtype=np.float32)
        for index in np.unique(y):
            centroids[index] = features[y == index].mean(axis=0)
        self.centroids_ = normalise(centroids)
        self.present_ = np.isin(np.arange(len(dataset.classes)), y)
        return self

    def predict_proba(self, items) -> np.ndarray:
        scores = self.scale * normalise(self.encoder_.embed(items)) @ self.centroids_.T
        scores[:, ~self.present_] = -np.inf  # a class without examples is never predicted
        return softmax(scores.astype(np.float64))

    def inference_module(self):
        present = np.flatnonzero(self.present_)
        head = ProbabilityHead(
            self.scale * self.centroids_[present],
            np.zeros(len(present)),
            len(self.centroids_),
            present,
        )
        return frozen_encoder_module(self.encoder_, head)

    def get_state(self):
        return {"centroids": self.centroids_, "present": self.present_.astype(np.uint8)}, {}

    def set_state(self, arrays, config, encoder) -> Prototype:
        self.encoder_ = encoder
        self.centroids_ = arrays["centroids"]
        self.present_ = arrays["present"].astype(bool)
        return self
