"""Classification losses, including the cosine loss that helps with very few examples.

Barz & Denzler (2020), "Deep Learning on Small Datasets without Pre-Training using
Cosine Loss": maximise the cosine similarity between the network output and the
one-hot target, 1 - cos(f(x), e_y). It ignores output scale, which regularises when
data is scarce; "cosine+ce" adds a small cross-entropy term (their lambda = 0.1).

Pair losses (contrastive fine-tuning) take embeddings of pairs of items (n, 2, dim) and
the two items' class labels (n, 2): "pair_cosine" is SetFit's (Tunstall et al. 2022)
cosine-similarity loss, the squared difference between cos(a, b) and 1 for the same
class, 0 for different ones; "supcon" is the supervised contrastive loss (Khosla et al.
2020) over every embedding of the batch, each pulled towards all of its class.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LOSSES = ("ce", "smooth", "cosine", "cosine+ce")
PAIR_LOSSES = ("pair_cosine", "supcon")
COSINE_SCALE = 10.0  # softmax temperature for turning cosine outputs into probabilities
SUPCON_TEMPERATURE = 0.1  # Khosla et al.'s choice


def classification_loss(
    logits: torch.Tensor, target: torch.Tensor, loss: str, class_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean loss of `logits` (n, C) against integer `target` (n,), or for "ce" and "smooth"
    against class probabilities (n, C): soft targets, e.g. a teacher's (distillation); for
    the pair losses, of embeddings (n, 2, dim) against the pairs' labels (n, 2)."""
    if loss in PAIR_LOSSES:
        return pair_loss(logits, target, loss)
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


def pair_loss(embeddings: torch.Tensor, labels: torch.Tensor, loss: str) -> torch.Tensor:
    """`pair_cosine` or `supcon` (see the module's docstring) of a batch of pairs."""
    if loss == "pair_cosine":
        similarity = F.cosine_similarity(embeddings[:, 0], embeddings[:, 1], dim=-1)
        return F.mse_loss(similarity, (labels[:, 0] == labels[:, 1]).to(similarity.dtype))
    if loss != "supcon":
        raise ValueError(f"Unknown pair loss {loss!r}; choose from {PAIR_LOSSES}.")
    z = F.normalize(embeddings.reshape(-1, embeddings.shape[-1]), dim=1)
    flat = labels.reshape(-1)
    itself = torch.eye(len(z), dtype=torch.bool)
    logits = (z @ z.T / SUPCON_TEMPERATURE).masked_fill(itself, -torch.inf)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (flat[:, None] == flat[None, :]) & ~itself
    counts = positive.sum(dim=1)
    anchored = counts > 0  # an anchor without a positive in the batch has nothing to pull
    per_anchor = -log_prob.masked_fill(~positive, 0.0).sum(dim=1)[anchored] / counts[anchored]
    return per_anchor.mean() if anchored.any() else z.sum() * 0.0


def accuracy(outputs: torch.Tensor, target: torch.Tensor, loss: str) -> float:
    """Share of items classified right; for the pair losses, share of pairs whose cosine
    similarity is on the right side of 0.5 (same class above, different below)."""
    if loss in PAIR_LOSSES:
        similar = F.cosine_similarity(outputs[:, 0], outputs[:, 1], dim=-1) > 0.5
        return float((similar == (target[:, 0] == target[:, 1])).float().mean())
    return float((outputs.argmax(1) == hard_labels(target)).float().mean())


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
