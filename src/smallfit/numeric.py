"""The small pieces of arithmetic several layers share: unit-length rows, softmax and
tempered probabilities."""

from __future__ import annotations

import numpy as np
import torch
from scipy import special
from torch import nn


def normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine geometry; makes heads insensitive to norm)."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


class Normalise(nn.Module):
    """`normalise` as a layer: rows scaled to unit length."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features / features.norm(dim=1, keepdim=True).clamp(min=1e-12)


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def soften(proba: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities tempered over the last axis: proba ** (1 / temperature), renormalised
    (temperature scaling of the log-probabilities, Guo et al. 2017); NaN rows stay NaN."""
    if temperature == 1:
        return proba
    return special.softmax(np.log(np.clip(proba, 1e-15, 1)) / temperature, axis=-1)
