"""How alike two items are, as distance matrices for the near-duplicate test: the
pretrained embedding's cosine distance, and a second signal the embedding is blind to.

For images that is the correlation of small grey thumbnails, taken at the best of the
nine one-pixel offsets: it ignores brightness and contrast (darkened, brightened,
re-encoded copies) and a shift by one pixel, which moves a small picture's embedding about
as far as a different item. For texts it is the Jaccard overlap of case-folded word
3-grams: lower-cased, re-spaced and truncated copies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from smallfit.data import load_image
from smallfit.progress import progress_bar
from smallfit.strategies.base import normalise

THUMBNAIL_SIDES = (16, 32)  # thumbnails: the data's smallest side, within these bounds


def cosine_distances(embeddings: np.ndarray) -> np.ndarray:
    unit = normalise(embeddings)
    return np.clip(1.0 - unit @ unit.T, 0.0, 2.0)


def thumbnail_distances(items: list[Any]) -> np.ndarray:
    """1 - correlation of grey thumbnails, at the best one-pixel offset (see the module doc).

    The thumbnail side is the smallest image side in the data (16 to 32 pixels), so a small
    image is never enlarged and a one-pixel shift of it stays one thumbnail pixel. Each
    thumbnail's border pixel is cropped so the nine offset windows compare the same area.
    """
    images = []
    with progress_bar(len(items), "Thumbnails") as advance:
        for item in items:
            images.append(load_image(item).convert("L"))
            advance()
    side = int(np.clip(min(min(i.size) for i in images), *THUMBNAIL_SIDES))
    grey = np.stack([np.asarray(i.resize((side, side)), dtype=np.float32) for i in images])

    def windows(dx: int, dy: int) -> np.ndarray:
        part = grey[:, 1 + dy : side - 1 + dy, 1 + dx : side - 1 + dx].reshape(len(grey), -1)
        part = part - part.mean(axis=1, keepdims=True)
        return part / np.maximum(np.linalg.norm(part, axis=1, keepdims=True), 1e-6)

    centre = windows(0, 0)
    best = np.full((len(grey), len(grey)), -1.0, dtype=np.float32)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            np.maximum(best, windows(dx, dy) @ centre.T, out=best)
    best = np.maximum(best, best.T)
    return np.clip(1.0 - best, 0.0, 2.0)


def shingle_distances(texts: list[str]) -> np.ndarray:
    """1 - Jaccard overlap of the texts' sets of case-folded word 3-grams (1 with none)."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(ngram_range=(3, 3), binary=True, lowercase=True)
    try:
        shingles = vectorizer.fit_transform(texts)
    except ValueError:  # no text has three words
        return np.ones((len(texts), len(texts)))
    shared = (shingles @ shingles.T).toarray().astype(np.float64)
    sizes = np.asarray(shingles.sum(axis=1)).ravel().astype(np.float64)
    union = sizes[:, None] + sizes[None, :] - shared
    return 1.0 - np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)


def distance_signals(modality: str, items: list[Any], embeddings: np.ndarray) -> dict:
    """{signal name: distance matrix}: the embedding's, then the modality's second one."""
    second = thumbnail_distances(items) if modality == "image" else shingle_distances(items)
    name = "thumbnail" if modality == "image" else "word 3-grams"
    return {"embedding": cosine_distances(embeddings), name: second}
