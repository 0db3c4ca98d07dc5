"""How alike two items are, as distance matrices for the near-duplicate test: the
vectors the doctor compares items by (a pretrained encoder's embeddings, by cosine
distance; or, for a kind of item without one, its own standardised features, by
Euclidean distance, since the direction of a centred row says little), and a second
signal the vectors are blind to, if the modality gives one
(Modality.near_duplicate_distances): for images the correlation of small grey
thumbnails, for texts the overlap of word 3-grams.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smallfit import modalities
from smallfit.numeric import normalise

# The vectors' signal, named by how they are compared: embeddings by angle, features by distance.
VECTOR_SIGNAL = {"cosine": "embedding", "euclidean": "features"}


def cosine_distances(embeddings: np.ndarray) -> np.ndarray:
    unit = normalise(embeddings)
    return np.clip(1.0 - unit @ unit.T, 0.0, 2.0)


def euclidean_distances(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float64)
    squared = (vectors * vectors).sum(axis=1)
    return np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * vectors @ vectors.T, 0))


def distances(vectors: np.ndarray, metric: str) -> np.ndarray:
    """(n, n) distances between the rows of `vectors` under `metric` (see VECTOR_SIGNAL)."""
    return cosine_distances(vectors) if metric == "cosine" else euclidean_distances(vectors)


def similarity(distance: float, metric: str) -> float:
    """A distance as a score, 1 for identical items: the cosine itself, or 1 / (1 + d)."""
    return 1.0 - distance if metric == "cosine" else 1.0 / (1.0 + distance)


def described(distance: float, metric: str) -> str:
    """A distance in words, for a finding."""
    if metric == "cosine":
        return f"embedding cosine {1.0 - distance:.3f}"
    return f"feature distance {distance:.3f}"


def distance_signals(
    modality: str, items: list[Any], vectors: np.ndarray, metric: str = "cosine"
) -> dict:
    """{signal name: distance matrix}: the vectors', then the modality's own, if any."""
    signals = {VECTOR_SIGNAL[metric]: distances(vectors, metric)}
    second = modalities.get(modality).near_duplicate_distances(items)
    if second is not None:
        matrix, name = second
        signals[name] = matrix
    return signals
