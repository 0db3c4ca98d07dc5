"""CORAL (Sun, Feng & Saenko 2016): move the training embeddings to the target domain's
mean and covariance, so a head trained on them fits target items as they come.

Only training embeddings move: whitened with the (shrunk) covariance of the labeled
embeddings and re-coloured with the target pool's, then shifted to the target mean. The
original standardises each domain before aligning; since target items are predicted
untouched here, matching the target mean too is the same alignment. Covariances are
Ledoit-Wolf shrunk: a few hundred items cannot estimate a full 1,280 x 1,280 covariance.
Written here because no maintained library applies CORAL to precomputed embeddings
without pulling in a deep-learning framework of its own.
"""

from __future__ import annotations

import numpy as np
from sklearn.covariance import LedoitWolf, ledoit_wolf_shrinkage

from smallfit.backbones import Encoder
from smallfit.data import Dataset
from smallfit.numeric import normalise

# Target statistics per (encoder, pool): every fold of a cross-validation uses the same.
_TARGET: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}


def matrix_power(covariance: np.ndarray, power: float) -> np.ndarray:
    """covariance ** power for a symmetric positive-definite matrix (by eigendecomposition)."""
    values, vectors = np.linalg.eigh(covariance.astype(np.float64))
    return (vectors * np.maximum(values, 1e-12) ** power) @ vectors.T


def target_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance ** 1/2) of the target features."""
    shrunk = LedoitWolf().fit(features)
    return shrunk.location_, matrix_power(shrunk.covariance_, 0.5)


def whiten(features: np.ndarray) -> np.ndarray:
    """Centred `features` times their Ledoit-Wolf covariance ** -1/2.

    Through the SVD of the centred features (n x d, n often far below d) instead of a
    d x d eigendecomposition per fold: the shrunk covariance (1 - a) S + a mu I has the
    right singular vectors of the data as eigenvectors, and the data has no component
    outside them, so only their eigenvalues (1 - a) s^2 / n + a mu are needed.
    """
    centred = features - features.mean(axis=0)
    shrinkage = ledoit_wolf_shrinkage(centred, assume_centered=True)
    u, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
    mu = (s**2).sum() / (len(features) * features.shape[1])
    values = (1 - shrinkage) * s**2 / len(features) + shrinkage * mu
    return (u * (s / np.sqrt(values))) @ vt


def align(features: np.ndarray, target: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """`features` whitened with their own shrunk covariance, re-coloured with the target's."""
    mean, colour = target
    return (whiten(features) @ colour + mean).astype(np.float32)


def training_features(
    items: list, encoder: Encoder, target_unlabeled: Dataset | None = None
) -> np.ndarray:
    """Unit-length embeddings of the training `items` to train a head on; with a target
    pool, CORAL aligned to it (in the unit-length space the heads see, then made unit
    length again)."""
    features = normalise(encoder.embed(items))
    if target_unlabeled is None:
        return features
    key = (encoder.cache_id, target_unlabeled.fingerprint())
    if key not in _TARGET:
        pool = encoder.embed(target_unlabeled.items, description="Embedding the target pool")
        _TARGET.clear()  # one pool at a time: a fit uses one
        _TARGET[key] = target_statistics(normalise(pool))
    return normalise(align(features, _TARGET[key]))
