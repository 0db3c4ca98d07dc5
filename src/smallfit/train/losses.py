"""Classification losses, including the cosine loss that helps with very few examples.

Barz & Denzler (2020), "Deep Learning on Small Datasets without Pre-Training using
Cosine Loss": maximise the cosine similarity between the network output and the
one-hot target, 1 - cos(f(x), e_y). It ignores output scale, which regularises when
data is scarce; "cosine+ce" adds a small cross-entropy term (their lambda = 0.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("ce", "smooth", "cosine", "cosine+ce")
COSINE_SCALE = 10.0  # softmax temperature for turning cosine outputs into probabilities


def classification_loss(
    logits: torch.Tensor, target: torch.Tensor, loss: str, class_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean loss of `logits` (n, C) against integer `target` (n,), or for "ce" and "smooth"
    against class probabilities (n, C): soft targets, e.g. a teacher's (distillation)."""
    if target.is_floating_point() and loss not in ("ce", "smooth"):
        raise ValueError(f"Loss {loss!r} needs integer targets; soft targets work with ce, smooth.")
    if loss == "ce":
        return F.cross_entropy(logits, target, weight=class_weight)
    if loss == "smooth":
        return F.cross_entropy(logits, target, weight=class_weight, label_smoothing=0.1)
    if loss in ("cosine", "cosine+ce"):
        cosine = 1.0 - F.normalize(logits, dim=1).gather(1, target[:, None]).squeeze(1)
        weights = class_weight[target] if class_weight is not None else torch.ones_like(cosine)
        value = (cosine * weights).sum() / weights.sum()
        if loss == "cosine+ce":
            value = value + 0.1 * F.cross_entropy(logits, target, weight=class_weight)
        return value
    raise ValueError(f"Unknown loss {loss!r}; choose from {LOSSES}.")


def hard_labels(target: torch.Tensor) -> torch.Tensor:
    """Integer labels of a target: itself, or the most probable class of soft targets."""
    return target.argmax(dim=1) if target.is_floating_point() else target


def probabilities(logits: torch.Tensor, loss: str) -> torch.Tensor:
    """Class probabilities from a head trained with `loss`.

    A cosine-trained head only learns directions, so its outputs are normalised and
    scaled before the softmax; the others use a plain softmax.
    """
    if loss == "cosine":
        return torch.softmax(COSINE_SCALE * F.normalize(logits, dim=1), dim=1)
    return torch.softmax(logits, dim=1)


class Probabilities(nn.Module):
    """`probabilities` as the last layer of a network, so that an exported graph ends in them."""

    def __init__(self, loss: str):
        super().__init__()
        self.loss = loss

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return probabilities(logits, self.loss)
