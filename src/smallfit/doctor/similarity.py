"""How alike two items are, as distance matrices for the near-duplicate test: the
pretrained embedding's cosine distance, and a second signal the embedding is blind to,
which the modality gives (Modality.near_duplicate_distances): for images the correlation
of small grey thumbnails, for texts the overlap of word 3-grams.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smallfit import modalities
from smallfit.numeric import normalise


def cosine_distances(embeddings: np.ndarray) -> np.ndarray:
    unit = normalise(embeddings)
    return np.clip(1.0 - unit @ unit.T, 0.0, 2.0)


def distance_signals(modality: str, items: list[Any], embeddings: np.ndarray) -> dict:
    """{signal name: distance matrix}: the embedding's, then the modality's own, if any."""
    signals = {"embedding": cosine_distances(embeddings)}
    second = modalities.get(modality).near_duplicate_distances(items)
    if second is not None:
        matrix, name = second
        signals[name] = matrix
    return signals
